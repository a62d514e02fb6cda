"""Tickets for reading another node's models: good only for the read the controller signed, with the
source node's key, until they expire."""

from __future__ import annotations

from controller.domain.peers import PeerPoint, PeerTickets
from taskspec import peer_ticket
from taskspec.model_operation import ModelOperationSpec, Operation

FIELDS = ("m", "disk", "task1", 1, "node2")


def test_a_ticket_is_good_for_exactly_what_it_was_signed_for() -> None:
    key = b"k" * 32
    ticket = peer_ticket.sign(key, *FIELDS, now=1000)
    assert peer_ticket.verify(key, ticket, *FIELDS, now=1000) == ""
    assert peer_ticket.verify(b"other" * 8, ticket, *FIELDS, now=1000) == "the ticket was not signed for this read"
    for i, other in enumerate(("m2", "dram", "task2", 2, "node3")):
        fields = list(FIELDS)
        fields[i] = other
        assert peer_ticket.verify(key, ticket, *fields, now=1000) == "the ticket was not signed for this read"
    assert peer_ticket.verify(key, ticket, *FIELDS, now=1000 + peer_ticket.TICKET_SECONDS + 1) == "the ticket has expired"
    assert peer_ticket.verify(key, "garbage", *FIELDS) == "the ticket is malformed"
    assert "no ticket key" in peer_ticket.verify(b"", ticket, *FIELDS)


def test_the_controller_signs_a_copy_with_the_source_nodes_key() -> None:
    tickets = PeerTickets(secret=b"s" * 32)
    spec = ModelOperationSpec(Operation.COPY, "m", source_device="node1:disk", target_device="disk")
    source = tickets.source(spec, "task1", 1, "node2", PeerPoint("10.0.0.1", 4000))
    assert source is not None and source.address == "10.0.0.1:4000"
    assert peer_ticket.verify(tickets.key_for("node1"), source.ticket, "m", "disk", "task1", 1, "node2") == ""
    assert peer_ticket.verify(tickets.key_for("node2"), source.ticket, "m", "disk", "task1", 1, "node2") != ""
    assert tickets.source(spec, "task1", 1, "node2", None) is None
    download = ModelOperationSpec(Operation.DOWNLOAD, "m", target_device="disk")
    assert tickets.source(download, "task1", 1, "node2", PeerPoint("10.0.0.1", 4000)) is None
