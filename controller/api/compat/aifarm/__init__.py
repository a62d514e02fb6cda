"""AI Farm (seeds/001) on the core domain: its REST endpoints' shapes, no state of their own."""
