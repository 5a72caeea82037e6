//! The conformance suite every backend runs (feature `test-util`). Placeholder until it lands.
