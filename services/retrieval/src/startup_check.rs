//! The start-up consistency check, as operators see it: every collection was reconciled
//! when it was opened (`ragmesh_index::Collection::open` compares the text index, the vector
//! log and the graph rebuilt from it, and repairs the traces of interrupted writes). This
//! module turns each collection's `OpenReport` into `ragmesh_index_repairs_total{collection,
//! kind}` and the size gauges, and logs one line per collection that needed a repair, so a
//! divergence never goes unnoticed.

use ragmesh_index::{Collections, IndexError, OpenReport};

/// Kinds of repair, as the `kind` label of `ragmesh_index_repairs_total`.
pub const REPAIR_KINDS: [&str; 4] = [
    "orphan_document",
    "orphan_vector",
    "duplicate_document",
    "torn_log_tail",
];

/// How many repairs of each kind (in [`REPAIR_KINDS`] order) an open made.
pub fn repairs(report: &OpenReport) -> [u64; 4] {
    [
        report.orphan_documents as u64,
        report.orphan_vectors as u64,
        report.duplicate_documents as u64,
        u64::from(report.log_truncated_bytes > 0),
    ]
}

/// Records what opening each collection found; returns the total number of repairs.
pub fn record(collections: &Collections) -> Result<u64, IndexError> {
    let mut total = 0;
    for name in collections.names()? {
        let collection = collections.get(&name)?;
        let counts = repairs(&collection.open_report());
        for (kind, count) in REPAIR_KINDS.iter().zip(counts) {
            metrics::counter!(
                "ragmesh_index_repairs_total",
                "collection" => name.clone(),
                "kind" => *kind
            )
            .increment(count);
        }
        let sum: u64 = counts.iter().sum();
        if sum > 0 {
            tracing::warn!(
                collection = %name,
                orphan_documents = counts[0],
                orphan_vectors = counts[1],
                duplicate_documents = counts[2],
                torn_log_tail = counts[3],
                "start-up check repaired the collection"
            );
        }
        total += sum;
        crate::ingest::record_collection_size(&collection.info());
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_tail_counts_once_whatever_its_length() {
        let report = OpenReport {
            orphan_vectors: 3,
            log_truncated_bytes: 70,
            ..OpenReport::default()
        };
        assert_eq!(repairs(&report), [0, 3, 0, 1]);
        assert_eq!(repairs(&OpenReport::default()), [0, 0, 0, 0]);
    }
}
