"""aifarm.compat.servermgmt.v1: the Server Management API on the core domain."""
