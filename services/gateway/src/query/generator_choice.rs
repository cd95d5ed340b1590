//! Which generator a query will get, decided before anything is called: the request's
//! `provider` (unknown → 422) or the configured default, with its model and prompt template
//! version read from the same configuration the generation service uses. The generation
//! service stays the judge of whether a provider is configured and reachable (503 naming it);
//! this only names the generator so answers of different generators are never mixed up.

use crate::error::GatewayError;
use ragmesh_config::{GeneratorIdentity, PROVIDERS, Settings};

/// The identity of every provider under one configuration, worked out once: the prompt
/// template's version is a hash, too costly to recompute on every cached answer.
#[derive(Debug, Clone)]
pub struct GeneratorCatalog {
    default: GeneratorIdentity,
    /// One per name of [`PROVIDERS`], in that order.
    providers: Vec<GeneratorIdentity>,
}

impl Default for GeneratorCatalog {
    fn default() -> Self {
        GeneratorCatalog::from_settings(&Settings::default())
    }
}

impl GeneratorCatalog {
    pub fn from_settings(settings: &Settings) -> GeneratorCatalog {
        GeneratorCatalog {
            default: settings.generator_identity(None),
            providers: PROVIDERS
                .iter()
                .map(|name| settings.generator_identity(Some(name)))
                .collect(),
        }
    }

    /// The generator answering a request that names `provider` (None: the default).
    pub fn choose(&self, provider: Option<&str>) -> Result<GeneratorIdentity, GatewayError> {
        let Some(provider) = provider else {
            return Ok(self.default.clone());
        };
        let name = provider.trim().to_ascii_lowercase();
        PROVIDERS
            .iter()
            .position(|known| *known == name)
            .and_then(|i| self.providers.get(i))
            .cloned()
            .ok_or_else(|| {
                GatewayError::UnprocessableEntity(format!(
                    "unknown provider {provider:?}: use one of {}",
                    PROVIDERS.join(", ")
                ))
            })
    }
}
