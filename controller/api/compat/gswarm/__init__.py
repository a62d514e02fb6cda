"""gswarm (seeds/002) on the core domain: its host API's shapes, no state of their own."""
