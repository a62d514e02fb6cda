"""The node's own model storage (gswarm's node-local storage): the devices, the operations that move
bytes between them and other nodes, and the PeerService other nodes read from."""
