#!/usr/bin/env python3
"""Writes the hand-made seed inputs into fuzz/corpus/<target>/ (stdlib only).

Each seed follows the byte layout documented on its target's function in fuzz/src/inputs.rs.
Run it from anywhere; existing files of the same name are overwritten, others are left alone.
"""

import gzip
import json
import pathlib
import struct

CORPUS = pathlib.Path(__file__).resolve().parent / "corpus"
ABSENT = b"\xff"
TRACES, METRICS, LOGS = 0, 1, 2


def write(target, name, data):
    directory = CORPUS / target
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_bytes(data)


# --- protobuf, by hand -------------------------------------------------------------------------


def varint(value):
    value &= (1 << 64) - 1  # negative int64 values are sent as ten-byte two's complement
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field_varint(number, value):
    return varint(number << 3) + varint(value)


def field_bytes(number, payload):
    if isinstance(payload, str):
        payload = payload.encode()
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def partial_success(rejected, message):
    """Export{Trace,Metrics,Logs}ServiceResponse: the three share their field numbers."""
    inner = b""
    if rejected:
        inner += field_varint(1, rejected)
    if message:
        inner += field_bytes(2, message)
    return field_bytes(1, inner)


def rpc_status(code, message, details=0):
    """google.rpc.Status with `details` empty google.protobuf.Any entries."""
    return field_varint(1, code) + field_bytes(2, message) + field_bytes(3, b"") * details


# --- response_decoder ----------------------------------------------------------------------------


def header(value):
    if value is None:
        return ABSENT
    value = value.encode()
    assert len(value) < 0xF0
    return bytes([len(value)]) + value


def response(signal, status, content_type=None, encoding=None, retry_after=None, body=b"", truncated=False):
    return (
        bytes([signal, int(truncated)])
        + struct.pack(">H", status)
        + header(content_type)
        + header(encoding)
        + header(retry_after)
        + body
    )


PROTOBUF = "application/x-protobuf"
JSON = "application/json"
R = "response_decoder"

write(R, "ok-empty", response(TRACES, 200))
write(R, "ok-no-content", response(LOGS, 204, PROTOBUF))
write(R, "ok-protobuf-partial", response(TRACES, 200, PROTOBUF, body=partial_success(3, "spans too old")))
write(R, "ok-protobuf-warning", response(LOGS, 200, "application/protobuf", body=partial_success(0, "deprecated")))
write(R, "ok-protobuf-negative", response(METRICS, 200, PROTOBUF, body=partial_success(-5, "")))
write(R, "ok-protobuf-garbage", response(TRACES, 200, PROTOBUF, body=b"\xff\xff\xff\xff"))
write(
    R,
    "ok-json-partial",
    response(
        METRICS,
        200,
        "application/json; charset=utf-8",
        body=json.dumps({"partialSuccess": {"rejectedDataPoints": "12", "errorMessage": "bad unit"}}).encode(),
    ),
)
write(R, "ok-json-number", response(LOGS, 200, JSON, body=b'{"partialSuccess":{"rejectedLogRecords":4}}'))
write(R, "ok-json-null", response(TRACES, 200, JSON, body=b'{"partialSuccess":null,"extra":[1,{"a":[]}]}'))
write(R, "ok-json-nested", response(TRACES, 200, JSON, body=b'{"partialSuccess":{"rejectedSpans":[[[],[]],[]]}}'))
write(R, "ok-json-not-object", response(TRACES, 200, JSON, body=b"[1,2,3]"))
write(R, "ok-json-string-partial", response(TRACES, 200, JSON, body=b'{"partialSuccess":"\\u0000\\n"}'))
write(
    R,
    "ok-gzip-protobuf",
    response(LOGS, 200, PROTOBUF, "gzip", body=gzip.compress(partial_success(2, "zipped"), mtime=0)),
)
write(R, "ok-gzip-broken", response(TRACES, 200, PROTOBUF, "gzip", body=b"\x1f\x8b\x08\x00not deflate"))
write(
    R,
    "ok-gzip-bomb",
    response(TRACES, 200, PROTOBUF, "gzip", body=gzip.compress(bytes(5 * 1024 * 1024), 9, mtime=0)),
)
write(R, "ok-unknown-encoding", response(TRACES, 200, PROTOBUF, "br", body=b"\x0b\x02\x80"))
write(R, "ok-truncated", response(TRACES, 200, PROTOBUF, body=partial_success(1, "cut"), truncated=True))
write(R, "throttled-seconds", response(TRACES, 429, PROTOBUF, retry_after="30", body=rpc_status(8, "slow down")))
write(
    R,
    "throttled-date",
    response(METRICS, 503, JSON, retry_after="Tue, 14 Nov 2023 22:14:20 GMT", body=b'{"code":14,"message":"overloaded"}'),
)
write(R, "throttled-rfc850", response(LOGS, 503, retry_after="Tuesday, 14-Nov-23 22:14:20 GMT"))
write(R, "throttled-asctime", response(LOGS, 429, retry_after="Tue Nov 14 22:14:20 2023"))
write(R, "throttled-junk", response(TRACES, 503, retry_after="soon"))
write(R, "bad-gateway-html", response(TRACES, 502, "text/html", body=b"<html>\r\n<b>502</b>\x1b[31m\xff</html>\n"))
write(R, "timeout-gzip-text", response(TRACES, 504, "text/plain", "gzip", body=gzip.compress(b"upstream timed out", mtime=0)))
write(R, "bad-request-status", response(TRACES, 400, PROTOBUF, body=rpc_status(3, "invalid span id", details=20)))
write(R, "bad-request-json-nonstring", response(TRACES, 400, JSON, body=b'{"message":5}'))
write(R, "not-found-text", response(TRACES, 404, body=b"404 page not found\n"))
write(R, "too-large", response(METRICS, 413))
write(R, "unauthorized-utf8", response(LOGS, 401, "text/plain", body="clé refusée: 認証".encode()))
write(R, "server-error-zstd", response(TRACES, 500, PROTOBUF, "zstd", body=b"\x28\xb5\x2f\xfd"))
write(R, "server-error-truncated-gzip", response(TRACES, 500, "text/plain", "gzip", body=gzip.compress(b"x" * 9000, mtime=0)[:20], truncated=True))
write(R, "status-unknown", response(TRACES, 599))
write(R, "status-redirect", response(TRACES, 301, "text/html", body=b"moved"))
write(R, "known-headers", bytes([TRACES, 0]) + struct.pack(">H", 503) + b"\xf1\xf5\xfa")

# --- grpc_status ---------------------------------------------------------------------------------

TRUNCATED, TRAILERS_ONLY, DETAILS, PADDED = 1, 2, 4, 8


def grpc_message(payload, compressed=False):
    """A gRPC length-prefixed message: the compressed flag and the big-endian length."""
    return bytes([int(compressed)]) + struct.pack(">I", len(payload)) + payload


def retry_info_status(code, seconds=None, nanos=0, type_url="type.googleapis.com/google.rpc.RetryInfo"):
    """google.rpc.Status whose one detail is a google.rpc.RetryInfo (its delay when `seconds` is set)."""
    info = b""
    if seconds is not None:
        delay = (field_varint(1, seconds) if seconds else b"") + (field_varint(2, nanos) if nanos else b"")
        info = field_bytes(1, delay)
    any_detail = field_bytes(1, type_url) + field_bytes(2, info)
    return field_varint(1, code) + field_bytes(2, "slow down") + field_bytes(3, any_detail)


def grpc(signal, headers=(), trailers=(), message=b"", flags=0, details=b""):
    assert len(details) < 256
    text = "\n".join(headers) + "\n\n" + "\n".join(trailers)
    return bytes([signal, flags, len(details)]) + details + text.encode() + b"\0" + message


G = "grpc_status"
OK_HEAD = ["content-type:application/grpc"]
write(G, "ok-empty", grpc(TRACES, OK_HEAD, ["grpc-status:0"]))
write(G, "ok-partial", grpc(TRACES, OK_HEAD, ["grpc-status:0"], grpc_message(partial_success(3, "spans too old"))))
write(G, "ok-partial-warning", grpc(LOGS, OK_HEAD, ["grpc-status: 0 "], grpc_message(partial_success(0, "deprecated"))))
write(G, "ok-garbage", grpc(METRICS, OK_HEAD, ["grpc-status:0"], grpc_message(b"\xff\xff\xff\xff")))
write(G, "ok-short-message", grpc(TRACES, OK_HEAD, ["grpc-status:0"], grpc_message(partial_success(1, "cut"))[:-2]))
write(G, "ok-truncated", grpc(TRACES, OK_HEAD, ["grpc-status:0"], grpc_message(partial_success(1, "cut")), TRUNCATED))
write(
    G,
    "ok-gzip",
    grpc(
        LOGS,
        OK_HEAD + ["grpc-encoding:gzip"],
        ["grpc-status:0"],
        grpc_message(gzip.compress(partial_success(2, "zipped"), mtime=0), compressed=True),
    ),
)
write(G, "ok-compressed-no-encoding", grpc(TRACES, OK_HEAD, ["grpc-status:0"], grpc_message(b"\x1f\x8b", compressed=True)))
write(G, "ok-identity-flagged", grpc(TRACES, OK_HEAD + ["grpc-encoding:identity"], ["grpc-status:0"], grpc_message(b"", True)))
write(G, "trailers-only-unavailable", grpc(TRACES, [], ["grpc-status:14", "grpc-message:collector%20busy"], flags=TRAILERS_ONLY))
write(G, "trailers-only-ok", grpc(METRICS, [], ["grpc-status:0"], flags=TRAILERS_ONLY))
for code in [1, 4, 10, 11, 15]:
    write(G, f"retryable-{code}", grpc(TRACES, OK_HEAD, [f"grpc-status:{code}"]))
write(G, "exhausted-no-details", grpc(TRACES, OK_HEAD, ["grpc-status:8", "grpc-message:quota"]))
write(G, "exhausted-retry-delay", grpc(TRACES, OK_HEAD, ["grpc-status:8"], flags=DETAILS, details=retry_info_status(8, 2, 500_000_000)))
write(G, "exhausted-padded", grpc(LOGS, OK_HEAD, ["grpc-status:8"], flags=DETAILS | PADDED, details=retry_info_status(8, 1)))
write(G, "exhausted-no-delay", grpc(METRICS, OK_HEAD, ["grpc-status:8"], flags=DETAILS, details=retry_info_status(8)))
write(G, "exhausted-negative-delay", grpc(TRACES, OK_HEAD, ["grpc-status:8"], flags=DETAILS, details=retry_info_status(8, -5, -1)))
write(G, "exhausted-huge-delay", grpc(TRACES, OK_HEAD, ["grpc-status:8"], flags=DETAILS, details=retry_info_status(8, 2**62, 2**31 - 1)))
write(G, "exhausted-other-detail", grpc(TRACES, OK_HEAD, ["grpc-status:8"], flags=DETAILS, details=retry_info_status(8, 3, type_url="x/google.rpc.DebugInfo")))
write(G, "exhausted-garbage-details", grpc(TRACES, OK_HEAD, ["grpc-status:8"], flags=DETAILS, details=b"\xff\x01\x02"))
write(G, "exhausted-bad-base64", grpc(TRACES, OK_HEAD, ["grpc-status:8", "grpc-status-details-bin:!!not base64"]))
write(G, "unavailable-delay", grpc(TRACES, OK_HEAD, ["grpc-status:14"], flags=DETAILS, details=retry_info_status(14, 7)))
for code in [2, 3, 5, 6, 7, 9, 12, 13, 16, 17, 99, 4294967295]:
    write(G, f"final-{code}", grpc(TRACES, OK_HEAD, [f"grpc-status:{code}", "grpc-message:bad%0Aspan%zz%E6%9D%B1"]))
write(G, "status-missing", grpc(TRACES, OK_HEAD, ["grpc-message:no status"]))
write(G, "status-not-a-number", grpc(TRACES, OK_HEAD, ["grpc-status:OK"]))
write(G, "status-overflow", grpc(TRACES, OK_HEAD, ["grpc-status:4294967296"]))
write(G, "status-in-headers-only", grpc(TRACES, OK_HEAD + ["grpc-status:0"], []))
write(G, "message-long", grpc(TRACES, OK_HEAD, ["grpc-status:13", "grpc-message:" + "%41" * 700]))
write(G, "message-escapes", grpc(LOGS, OK_HEAD, ["grpc-status:3", "grpc-message:%1B[31mred%00%FF%C3%28"]))

# --- scrape_negotiation --------------------------------------------------------------------------

ACCEPT, ACCEPT_ENCODING = 1, 2
N = "scrape_negotiation"
for name, (flags, accept, encoding) in {
    "prometheus-3": (
        ACCEPT | ACCEPT_ENCODING,
        "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;"
        "version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
        "gzip",
    ),
    "prometheus-2": (
        ACCEPT | ACCEPT_ENCODING,
        "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
        "text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
        "gzip",
    ),
    "curl": (ACCEPT, "*/*", ""),
    "none": (0, "", ""),
    "browser": (
        ACCEPT | ACCEPT_ENCODING,
        "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        "gzip, deflate, br, zstd",
    ),
    "openmetrics-bare": (ACCEPT, "application/openmetrics-text, text/plain", ""),
    "openmetrics-quoted": (ACCEPT, 'Application/OpenMetrics-Text; version="1.0.0"', ""),
    "weights-odd": (ACCEPT | ACCEPT_ENCODING, "text/plain;q=1.5, application/openmetrics-text;q=-1, application/*;q=NaN", "gzip;q=0, *;q=0.001"),
    "ties": (ACCEPT, "text/*;q=0.5, application/*;q=0.5", ""),
    "junk": (ACCEPT | ACCEPT_ENCODING, ",,;;=,text/plain;version=1.0.0;;q==,\t", " ; , GZIP ;Q=1 ,"),
    "any-encoding": (ACCEPT | ACCEPT_ENCODING, "text/plain", "identity;q=0.5, *"),
    "identity-only": (ACCEPT_ENCODING, "", "identity, br;q=0.9"),
}.items():
    write(N, name, bytes([flags]) + (accept + "\n" + encoding).encode())

# --- headers_env ---------------------------------------------------------------------------------

H = "headers_env"
for name, value in {
    "single": "api-key=abc123",
    "bearer": "Authorization=Bearer%20eyJhbGciOi.J9,x-tenant=blue",
    "vendors": "x-honeycomb-team=abc,x-honeycomb-dataset=svc,lightstep-access-token=t0k",
    "spaces": "  a = 1 ,\tb=\t2\t, c = two words ",
    "empties": ",, ,a=1,,\t,",
    "encoded-separators": "x-list=a%2Cb%2cc,x-eq=k%3Dv,x%2Dkey=1",
    "first-equals": "authorization=Basic dXNlcjpwYXNz==",
    "unicode": "x-city=Zürich,x-name=%E6%9D%B1%E4%BA%AC,x-tab=a%09b",
    "bad-escapes": "token=abc%zzsecret,k%=1,short=x%4,utf=%C3%28",
    "no-equals": "a=1,Bearer hunter2,b=2",
    "bad-keys": "bad key=1,=2,x(y)=3,k%0A=4,ünï=5,%20=6",
    "injection": "a=x%0D%0AInjected: 1,b=x%00,c=x%7F",
    "duplicates": "x-a=1,X-A=2",
    "empty-value": "x-empty=,x-blank= ",
}.items():
    write(H, name, value.encode())
write(H, "invalid-utf8", b"k=\xff\xfe,v=ok")

# --- endpoint ------------------------------------------------------------------------------------

BASE, SPECIFIC = 1, 2
E = "endpoint"
for name, (signal, flags, text) in {
    "default": (TRACES, 0, ""),
    "base": (TRACES, BASE, "http://collector:4318"),
    "base-path-slash": (LOGS, BASE, "http://c:4318/mycollector/"),
    "base-path": (METRICS, BASE, "http://c:4318/mycollector"),
    "base-query": (TRACES, BASE, "http://c:4318/base?tenant=a&x=1"),
    "base-ipv6": (TRACES, BASE, "http://[::1]:4318"),
    "base-https-credentials": (LOGS, BASE, "https://user:pw@otel.example.com"),
    "specific": (TRACES, SPECIFIC, "\nhttp://c:4318"),
    "specific-wins": (METRICS, BASE | SPECIFIC, "http://base:4318\nhttps://c/v1/metrics?x=1"),
    "specific-blank": (LOGS, BASE | SPECIFIC, " http://c:4318 \n \t "),
    "specific-ipv6": (METRICS, SPECIFIC, "\nhttps://[2001:db8::7]/otlp"),
    "bad-scheme": (TRACES, BASE, "ftp://user:secret@c:21"),
    "no-scheme": (TRACES, SPECIFIC, "\nlocalhost:4318"),
    "bad-port": (TRACES, BASE, "http://c:99999"),
    "no-host": (TRACES, BASE, "http://"),
    "unix": (LOGS, BASE, "unix:/run/otel.sock"),
    "dot-segments": (TRACES, BASE, "http://c/a/../%2e/b//"),
}.items():
    write(E, name, bytes([signal, flags]) + text.encode())

# --- retry_after ---------------------------------------------------------------------------------


def retry(now, value, before_1970=False):
    return bytes([int(before_1970)]) + struct.pack(">Q", now << 24) + value.encode()


T = "retry_after"
RFC_EXAMPLE = 784111777  # Sun, 06 Nov 1994 08:49:37 GMT
for name, (now, value) in {
    "seconds": (1700000000, "120"),
    "zero": (1700000000, "0"),
    "padded": (1700000000, " 7\t"),
    "huge": (0, "99999999999999999999999"),
    "negative": (0, "-1"),
    "fraction": (0, "1.5"),
    "imf-fixdate": (RFC_EXAMPLE - 30, "Sun, 06 Nov 1994 08:49:37 GMT"),
    "rfc850": (RFC_EXAMPLE - 30, "Sunday, 06-Nov-94 08:49:37 GMT"),
    "asctime": (RFC_EXAMPLE - 30, "Sun Nov  6 08:49:37 1994"),
    "past": (1700000000, "Sun, 06 Nov 1994 08:49:37 GMT"),
    "leap-day": (951782400, "Tue, 29 Feb 2000 00:00:60 GMT"),
    "not-leap": (0, "Fri, 29 Feb 2019 00:00:00 GMT"),
    "bad-hour": (0, "Sun, 06 Nov 1994 25:00:00 GMT"),
    "bad-month": (0, "Sun, 06 Foo 1994 08:49:37 GMT"),
    "far-future": (1700000000, "Fri, 31 Dec 9999 23:59:59 GMT"),
    "rfc850-century": (4102444800, "Saturday, 01-Jan-77 00:00:00 GMT"),
    "iso8601": (0, "2024-01-01T00:00:00Z"),
}.items():
    write(T, name, retry(now, value))
write(T, "before-1970", retry(1500, "Thu, 01 Jan 1970 00:00:00 GMT", before_1970=True))


# --- traceparent / tracestate / baggage / propagation_extract ------------------------------------

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
VALID = f"00-{TRACE_ID}-{PARENT_ID}-01"

T = "traceparent"
for name, value in {
    "valid": VALID,
    "unsampled": f"00-{TRACE_ID}-{PARENT_ID}-00",
    "all-flags": f"00-{TRACE_ID}-{PARENT_ID}-ff",
    "ows": f"\t {VALID} \t",
    "future": f"cc-{TRACE_ID}-{PARENT_ID}-01-what-the-future-will-be-like",
    "future-dot": f"cc-{TRACE_ID}-{PARENT_ID}-01.what-the-future-will-be-like",
    "v00-trailing": f"{VALID}-extra",
    "version-ff": f"ff-{TRACE_ID}-{PARENT_ID}-01",
    "uppercase": f"00-{TRACE_ID.upper()}-{PARENT_ID}-01",
    "zero-trace": f"00-{'0' * 32}-{PARENT_ID}-01",
    "zero-parent": f"00-{TRACE_ID}-{'0' * 16}-01",
    "short-flags": f"00-{TRACE_ID}-{PARENT_ID}-1",
    "empty": "",
}.items():
    write(T, name, value.encode())
write(T, "not-utf8", VALID.encode()[:20] + b"\xc3" + VALID.encode()[21:])

T = "tracestate"
for name, value in {
    "example": "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
    "ows": "foo=1 \t , \t bar=2,\t \tbaz=3\t",
    "blank-members": ",, ,\t,foo=1,",
    "multi-tenant": "tenant@system=1,0t@s=x",
    "bad-vendor": "foo@@bar=1,bar=2",
    "bad-value": "foo=bar=baz",
    "empty-value": "foo=,bar=3",
    "duplicate": "foo=1,foo=2",
    "uppercase": "FOO=1",
    "all-chars": "a0_-*/@z=" + "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) not in ",="),
    "members-32": ",".join(f"bar{i:02}={i:02}" for i in range(1, 33)),
    "members-33": ",".join(f"bar{i:02}={i:02}" for i in range(1, 34)),
    "long-key": "z" * 256 + "=1",
    "long-tenant": "t" * 241 + "@" + "v" * 14 + "=1",
}.items():
    write(T, name, value.encode())

T = "baggage"
for name, value in {
    "example": "userId=Am%C3%A9lie,serverNode=DF%2028,isProduction=false",
    "properties": "key1=value1;property1;property2, key2 = value2 ; p = v",
    "equals-in-value": "a=b=c,empty=",
    "bad-escape": "a=%zz,b=%4,c=%",
    "bad-chars": 'a=x y,b="q",ok=1',
    "invalid-utf8": "k=%FF%C3",
    "duplicate": "a=1,b=2,a=3",
    "members-70": ",".join(f"k{i}={i}" for i in range(70)),
    "big-member": "big=" + "v" * 5000 + ",small=1",
}.items():
    write(T, name, value.encode())

T = "propagation_extract"
for name, lines in {
    "all": [f"traceparent:{VALID}", "tracestate:rojo=1", "TraceState:congo=2", "baggage:userId=alice"],
    "two-traceparents": [f"traceparent:{VALID}", f"traceparent:{VALID}"],
    "bad-tracestate": [f"traceparent:{VALID}", "tracestate:foo=1,foo=2"],
    "tracestate-alone": ["tracestate:foo=1", "baggage:a=1;p", "Baggage:b=%20"],
}.items():
    write(T, name, "\n".join(lines).encode())

B3_TRACE, B3_SPAN, B3_PARENT = "80f198ee56343ba864fe8b2a57d3eff7", "e457b5a2e4d86bd1", "05e3ac9a4f6e3b90"
T = "b3"
for name, value in {
    "single-full": f"{B3_TRACE}-{B3_SPAN}-1-{B3_PARENT}",
    "single-debug": f"{B3_TRACE}-{B3_SPAN}-d",
    "single-deny": f"{B3_TRACE}-{B3_SPAN}-0",
    "single-deferred": f"{B3_TRACE}-{B3_SPAN}",
    "single-parent-no-state": f"{B3_TRACE}-{B3_SPAN}-{B3_PARENT}",
    "single-64bit": f"a3ce929d0e0e4736-{B3_SPAN}-1",
    "sampling-only": "d",
    "uppercase": f"{B3_TRACE.upper()}-{B3_SPAN}-1",
    "too-many-fields": f"{B3_TRACE}-{B3_SPAN}-1-{B3_PARENT}-1",
    "zero-span": f"{B3_TRACE}-0000000000000000-1",
    "ows": f" \t{B3_TRACE}-{B3_SPAN}-1\t",
}.items():
    write(T, name, value.encode())
for name, lines in {
    "headers-single": [f"b3:{B3_TRACE}-{B3_SPAN}-1"],
    "headers-multi": [f"X-B3-TraceId:{B3_TRACE}", f"X-B3-SpanId:{B3_SPAN}", "X-B3-Sampled:true", f"X-B3-ParentSpanId:{B3_PARENT}"],
    "headers-debug": [f"x-b3-traceid:a3ce929d0e0e4736", f"x-b3-spanid:{B3_SPAN}", "x-b3-flags:1"],
    "headers-both": [f"b3:{B3_TRACE}-{B3_SPAN}-0", "x-b3-traceid:11111111111111111111111111111111", f"x-b3-spanid:{B3_SPAN}"],
    "headers-bad-single": ["b3:0", f"x-b3-traceid:{B3_TRACE}", f"x-b3-spanid:{B3_SPAN}", "x-b3-sampled:1"],
    "headers-repeated": [f"x-b3-traceid:{B3_TRACE}", f"x-b3-traceid:{B3_TRACE}", f"x-b3-spanid:{B3_SPAN}"],
}.items():
    write(T, name, "\n".join(lines).encode())

# --- resource ------------------------------------------------------------------------------------

T = "resource_attributes"
for name, value in {
    "simple": "service.name=order-gateway,deployment.environment.name=production",
    "escapes": "desk=fx%2Coptions,formula=a%3Db,city=Z%C3%BCrich,space=two%20words",
    "blanks": " \tk = v \t, pad=%20x%20 ,empty=,blank= ",
    "empties": ",,a=1,, ,",
    "no-equals": "ok=1,lonely,=nokey,%20=space-key",
    "bad-escapes": "a=%zz,b%4=1,c=%,d=%FF,e=%C3%28",
    "duplicates": "k=1,other=x,k=2,K=3",
    "equals-in-value": "k==v,j=a=b",
    "control": "k%0A=v%0D%0A,\x1bkey=1",
}.items():
    write(T, name, value.encode())
write(T, "invalid-utf8", b"k=\xff\xfe,v=ok")

ID = "3601745b3bd54d9780436faa5f0e4f72bb46231663bb99a6bb892764917832c2"
T = "cgroup"
for name, lines in {
    "docker-v1": [f"12:memory:/docker/{ID}", f"11:cpu,cpuacct:/docker/{ID}", "1:name=systemd:/docker/" + ID],
    "systemd-docker-scope": [f"1:name=systemd:/system.slice/docker-{ID}.scope"],
    "kubepods-cgroupfs": [f"10:cpuset:/kubepods/besteffort/pod2c8c8c6c-0c76-4b4e-a0b3-0f6b6bd2f9e1/{ID}"],
    "kubepods-containerd-scope": [
        f"0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod2c8c.slice/cri-containerd-{ID}.scope"
    ],
    "kubepods-crio-scope": [f"0::/kubepods.slice/kubepods-besteffort.slice/crio-{ID}.scope"],
    "containerd-colon": [f"1:name=systemd:/system.slice/containerd.service/kubepods-pod2c8c.slice:cri-containerd:{ID}"],
    "ecs": [f"9:perf_event:/ecs/0a1b2c3d4e/{ID}"],
    "host-v2": ["0::/user.slice/user-1000.slice/session-2.scope"],
    "host-v1": ["12:pids:/user.slice/user-1000.slice/session-2.scope", "1:name=systemd:/init.scope", "0::/"],
    "uppercase-id": [f"0::/docker/{ID.upper()}"],
    "short-id": [f"0::/docker/{ID[:63]}"],
}.items():
    write(T, name, ("\n".join(lines) + "\n").encode())

T = "mountinfo"
for name, lines in {
    "docker": [
        "1193 1174 0:140 / / rw,relatime master:312 - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/X",
        f"1213 1193 8:1 /var/lib/docker/containers/{ID}/resolv.conf /etc/resolv.conf rw,relatime - ext4 /dev/sda1 rw",
        f"1214 1193 8:1 /var/lib/docker/containers/{ID}/hostname /etc/hostname rw,relatime - ext4 /dev/sda1 rw",
    ],
    "podman": [
        f"651 630 0:61 /containers/storage/overlay-containers/{ID}/userdata/hostname /etc/hostname rw - tmpfs tmpfs rw"
    ],
    "crio-cgroup": [f"30 20 0:26 /kubepods.slice/crio-{ID}.scope /sys/fs/cgroup ro - cgroup2 cgroup2 rw"],
    "containerd-colon": [f"30 20 0:26 /kubepods-pod2c8c.slice:cri-containerd:{ID} /sys/fs/cgroup ro - cgroup cgroup rw"],
    "kubernetes-sandbox": [
        f"2100 2090 0:26 /var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/{ID}/hostname /etc/hostname rw - ext4 /dev/vda1 rw",
        "2101 2090 0:26 /var/lib/kubelet/pods/2c8c8c6c-0c76/containers/app/5d1e3f2a /dev/termination-log rw - ext4 /dev/vda1 rw",
    ],
    "host": [
        "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro",
        "23 22 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw",
        "24 22 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate",
    ],
    "long-hex-after-prefix": [f"1 0 0:1 /crio-{ID}0 /x rw - tmpfs tmpfs rw"],
}.items():
    write(T, name, ("\n".join(lines) + "\n").encode())

# --- environment ---------------------------------------------------------------------------------

# One value sets every variable at once (see `environment` in src/inputs.rs); several are spread
# over the variables by their names' hashes.
T = "environment"
for name, values in {
    "empty": [""],
    "true": ["true"],
    "zero": ["0"],
    "minus-one": ["-1"],
    "i32-max": ["2147483647"],
    "u64-max-plus-one": ["18446744073709551616"],
    "nan": ["NaN"],
    "float": ["0.25"],
    "spaces": ["  7  "],
    "newline": ["a\nb"],
    "url": ["https://collector.example:4318/v1/traces"],
    "url-ipv6": ["http://[::1]:4318"],
    "grpc": ["grpc"],
    "headers": ["api-key=secret%20value,bad entry,=x"],
    "resource": ["service.name=gw,k=v%2C,broken"],
    "propagators": ["tracecontext,baggage,b3,b3multi,xray,none"],
    "samplers": ["parentbased_traceidratio", "0.5", "always_off", "2", "-0.1"],
    "mixed": ["cumulative", "delta", "lowmemory", "otlp,prometheus", "console", "none", "gzip", "http/json"],
    "non-utf8": ["\udcff"],
}.items():
    write(T, name, b"\x00".join(value.encode("utf-8", "surrogateescape") for value in values))
