//! All collections of a data directory (`<data_dir>/collections/<name>/`), opened lazily and
//! shared. Names are validated before they reach a path; a collection is created only by a
//! write, so searching or listing an unknown name is a NotFound error, not an empty result.

use crate::{Collection, CollectionInfo, IndexError};
use parking_lot::Mutex;
use ragmesh_core::validate_collection;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub struct Collections {
    pub(crate) root: PathBuf,
    pub(crate) open: Mutex<HashMap<String, Arc<Collection>>>,
}

impl std::fmt::Debug for Collections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collections")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl Collections {
    /// The collections under `data_dir` (the directory is created when missing).
    pub fn new(data_dir: &Path) -> Result<Collections, IndexError> {
        let root = data_dir.join("collections");
        std::fs::create_dir_all(&root)
            .map_err(|e| IndexError::io(format!("create {}", root.display()), e))?;
        Ok(Collections {
            root,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// An existing collection; NotFound when there is none of that name.
    pub fn get(&self, name: &str) -> Result<Arc<Collection>, IndexError> {
        self.lookup(name, false)
    }

    /// The collection of that name, created when missing.
    pub fn get_or_create(&self, name: &str) -> Result<Arc<Collection>, IndexError> {
        self.lookup(name, true)
    }

    fn lookup(&self, name: &str, create: bool) -> Result<Arc<Collection>, IndexError> {
        let name = validate_collection(name)?;
        let mut open = self.open.lock();
        if let Some(collection) = open.get(name) {
            return Ok(Arc::clone(collection));
        }
        let dir = self.root.join(name);
        if !create && !Collection::exists(&dir) {
            return Err(IndexError::CollectionNotFound(name.to_string()));
        }
        let collection = Arc::new(Collection::open(&dir, name)?);
        open.insert(name.to_string(), Arc::clone(&collection));
        Ok(collection)
    }

    /// Names of the collections on disk, sorted.
    pub fn names(&self) -> Result<Vec<String>, IndexError> {
        let entries = std::fs::read_dir(&self.root)
            .map_err(|e| IndexError::io(format!("list {}", self.root.display()), e))?;
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .filter_map(|entry| entry.file_name().to_str().map(str::to_string))
            .filter(|name| {
                validate_collection(name).is_ok() && Collection::exists(&self.root.join(name))
            })
            .collect();
        names.sort();
        Ok(names)
    }

    /// Every collection with its size, sorted by name.
    pub fn list(&self) -> Result<Vec<CollectionInfo>, IndexError> {
        self.names()?
            .iter()
            .map(|name| Ok(self.get(name)?.info()))
            .collect()
    }

    /// Opens every collection on disk (so the first query does not pay for it); returns how
    /// many there are.
    pub fn open_all(&self) -> Result<usize, IndexError> {
        let names = self.names()?;
        for name in &names {
            self.get(name)?;
        }
        Ok(names.len())
    }
}
