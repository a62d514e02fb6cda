"""gateway.metadata: request headers -> gRPC metadata, initial metadata -> response headers."""

from __future__ import annotations

from gateway.metadata import headers_from_metadata, metadata_from_headers


def test_request_headers_become_lower_case_metadata() -> None:
    headers = [
        ("Authorization", "Bearer k"),
        ("X-API-Key", "k2"),
        ("X-Request-Id", "r1"),
        ("X-Multi", "a"),
        ("X-Multi", "b"),
    ]
    assert metadata_from_headers(headers) == [
        ("authorization", "Bearer k"),
        ("x-api-key", "k2"),
        ("x-request-id", "r1"),
        ("x-multi", "a"),
        ("x-multi", "b"),
    ]


def test_transport_and_unsafe_headers_are_dropped() -> None:
    headers = [
        ("Host", "h"),
        ("Connection", "keep-alive"),
        ("Content-Type", "application/json"),
        ("Content-Length", "3"),
        ("Transfer-Encoding", "chunked"),
        ("TE", "trailers"),
        ("User-Agent", "curl"),
        ("Accept-Encoding", "gzip"),
        (":authority", "h"),
        ("grpc-timeout", "1S"),
        ("Grpc-Status", "0"),
        ("X-Trace-Bin", "AAAA"),
        ("X-Bad", "line\nbreak"),
        ("X-Utf8", "café"),
        ("X-Ümlaut", "v"),
        ("X-Ok", "fine value ~"),
    ]
    assert metadata_from_headers(headers) == [("x-ok", "fine value ~")]


def test_initial_metadata_becomes_response_headers() -> None:
    headers = headers_from_metadata(
        [
            ("x-total-count", "12"),
            ("link", '<a>; rel="next"'),
            ("x-ratelimit-remaining", "9"),
            ("x-ratelimit-remaining", "8"),
            ("content-type", "application/grpc"),
            ("grpc-encoding", "gzip"),
            ("date", "x"),
            ("x-blob-bin", b"\x00"),
        ]
    )
    assert headers["X-Total-Count"] == "12"
    assert headers["Link"] == '<a>; rel="next"'
    assert headers.getall("x-ratelimit-remaining") == ["9", "8"]
    assert set(headers) == {"x-total-count", "link", "x-ratelimit-remaining"}


def test_no_metadata() -> None:
    assert len(headers_from_metadata(None)) == 0
    assert metadata_from_headers([]) == []
