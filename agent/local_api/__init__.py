"""The node-local API an agent serves: gswarm's client API (through the generic gateway, on the
gswarm_client listener) and the PeerService other nodes copy models from, on one gRPC server."""
