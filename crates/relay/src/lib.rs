//! RelayCore, the AI gateway. This first cut holds the provider registry: the organization's LLM
//! providers with their API keys encrypted at rest (AES-256-GCM under the master key), never returned.

pub mod providers;
