#!/usr/bin/env python3
"""The Python side of tests/conformance.rs: the official OpenTelemetry protobuf classes as an oracle.

Usage: otlp_python.py COMMAND MESSAGE

MESSAGE is a message's short name (ExportTraceServiceRequest, ExportLogsServiceResponse, ...).
Every command writes one JSON object to stdout; binary protobuf travels as hex, and JSON documents
as text, so the Rust side parses them exactly as it parses OTLP/JSON off the wire.

Commands:
  from-protobuf  stdin: protobuf bytes. Parses them, drops the fields this package does not know,
                 and answers the re-serialized bytes, the OTLP/JSON form of the message, and a
                 coverage report.
  from-json      stdin: OTLP/JSON text. Parses it strictly (an unknown key is an error) and answers
                 the bytes, the canonical OTLP/JSON form and a coverage report.
  fixture        stdin ignored. Builds this side's own fully populated message with unknown fields
                 of every wire type in every nested message, and answers it with and without them.

OTLP/JSON differs from protobuf's own JSON mapping in one place the Python library does not know:
trace and span ids are hex, not base64. This script converts them at its edges, and only them.

A failure (a message that does not parse, a strict-parse error) exits non-zero with the reason on
stderr, which the Rust test reports.
"""

import base64
import json
import math
import struct
import sys

from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

MESSAGES = {
    cls.DESCRIPTOR.name: cls
    for cls in (
        trace_service_pb2.ExportTraceServiceRequest,
        trace_service_pb2.ExportTraceServiceResponse,
        metrics_service_pb2.ExportMetricsServiceRequest,
        metrics_service_pb2.ExportMetricsServiceResponse,
        logs_service_pb2.ExportLogsServiceRequest,
        logs_service_pb2.ExportLogsServiceResponse,
    )
}

# The OTLP/JSON keys whose bytes are hex rather than base64: every trace or span id field.
ID_KEYS = frozenset({"traceId", "spanId", "parentSpanId"})


def rewrite_ids(node, convert):
    """Applies `convert` to every id value in a JSON tree, in place.

    Only object keys are matched, so an attribute that happens to be named "traceId" (a value of
    a "key" member) is left alone.
    """
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ID_KEYS and isinstance(value, str):
                node[key] = convert(value)
            else:
                rewrite_ids(value, convert)
    elif isinstance(node, list):
        for item in node:
            rewrite_ids(item, convert)


def base64_to_hex(text):
    return base64.b64decode(text, validate=True).hex()


def hex_to_base64(text):
    return base64.b64encode(bytes.fromhex(text)).decode("ascii")


def to_otlp_json(message):
    """The OTLP/JSON text of a message: proto3 JSON with integer enums and hex ids."""
    tree = json_format.MessageToDict(message, use_integers_for_enums=True)
    rewrite_ids(tree, base64_to_hex)
    # allow_nan is moot (json_format already spells non-finite doubles as strings); refusing it
    # makes a stray float NaN an error rather than invalid JSON.
    return json.dumps(tree, allow_nan=False)


def coverage(message):
    """Which fields and enum values of the schema reachable from `message` it never sets.

    A field counts as covered once it is present somewhere in the tree: for proto3 scalars that
    means a non-default value, for oneof members and optional fields that it is set. Enum values
    count when some enum field holds them; zero (UNSPECIFIED) is not required. A message type that
    never occurs leaves all its fields uncovered, so the report names everything still to add.
    """
    seen_fields = set()
    seen_enums = set()
    reachable = {}

    def learn(descriptor):
        if descriptor.full_name in reachable:
            return
        reachable[descriptor.full_name] = descriptor
        for field in descriptor.fields:
            if field.message_type is not None:
                learn(field.message_type)

    def visit(msg):
        descriptor = msg.DESCRIPTOR
        for field, value in msg.ListFields():
            seen_fields.add(field.full_name)
            values = value if field.is_repeated else [value]
            if field.message_type is not None:
                for item in values:
                    visit(item)
        for field in descriptor.fields:
            if field.enum_type is not None:
                seen_enums.add((field.enum_type.full_name, getattr(msg, field.name)))

    learn(message.DESCRIPTOR)
    visit(message)

    unset_fields = sorted(
        field.full_name
        for descriptor in reachable.values()
        for field in descriptor.fields
        if field.full_name not in seen_fields
    )
    enums = {
        field.enum_type.full_name: field.enum_type
        for descriptor in reachable.values()
        for field in descriptor.fields
        if field.enum_type is not None
    }
    missing_enum_values = sorted(
        f"{name}.{value.name}"
        for name, enum in enums.items()
        for value in enum.values
        if value.number != 0 and (name, value.number) not in seen_enums
    )
    return {"unset_fields": unset_fields, "missing_enum_values": missing_enum_values}


def answer(message):
    """The common reply: bytes, OTLP/JSON and coverage of a message known to have no unknowns."""
    reply = {
        "protobuf": message.SerializeToString().hex(),
        "json": to_otlp_json(message),
    }
    reply.update(coverage(message))
    return reply


def from_protobuf(cls, data):
    message = cls()
    message.ParseFromString(data)
    # A field this package does not know would survive as an unknown field and be re-serialized
    # verbatim, hiding a schema mismatch; dropping unknowns makes it vanish from the round trip.
    message.DiscardUnknownFields()
    return answer(message)


def reject_duplicate_keys(pairs):
    keys = [key for key, _ in pairs]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise ValueError(f"duplicate JSON keys {duplicates}")
    return dict(pairs)


def reject_constant(token):
    raise ValueError(f"bare {token} is not JSON; OTLP/JSON spells it as a string")


def from_json(cls, data):
    # json_format.Parse rejects duplicate keys and bare NaN itself; the id rewrite below goes
    # through a dict first, so the same strictness is applied here, before anything is lost.
    tree = json.loads(
        data.decode("utf-8"),
        object_pairs_hook=reject_duplicate_keys,
        parse_constant=reject_constant,
    )
    rewrite_ids(tree, hex_to_base64)
    message = cls()
    json_format.Parse(json.dumps(tree), message, ignore_unknown_fields=False)
    return answer(message)


# ---- This side's own fixtures --------------------------------------------------------------------
# Written independently of the Rust fixtures, from the Python classes' point of view, so that a
# mapping mistake mirrored in both our encoder and decoder cannot pass unnoticed.


def varint(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def tag(number, wire_type):
    return varint(number << 3 | wire_type)


# Unknown fields of every wire type, at numbers no OTLP message uses, including the largest legal
# field number and a (deprecated, but still valid on the wire) group.
UNKNOWN_FIELDS = b"".join(
    [
        tag(90, 0) + varint(150),
        tag(91, 1) + struct.pack("<d", 2.5),
        tag(92, 2) + varint(7) + b"unknown",
        tag(93, 5) + struct.pack("<I", 0xDEADBEEF),
        tag(94, 3) + tag(1, 0) + varint(1) + tag(2, 2) + varint(2) + b"hi" + tag(94, 4),
        tag(536870911, 0) + varint(2**64 - 1),
    ]
)


def add_unknown_fields(message):
    """Adds UNKNOWN_FIELDS to `message` and every message nested in it."""
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        values = value if field.is_repeated else [value]
        for item in values:
            add_unknown_fields(item)
    message.MergeFromString(UNKNOWN_FIELDS)


TRACE_ID = bytes(range(0xA0, 0xB0))
SPAN_ID = bytes.fromhex("00f067aa0ba902b7")


def any_values():
    """One attribute of every AnyValue shape, edge values included."""
    c = common_pb2
    nested = c.KeyValueList(
        values=[
            c.KeyValue(key="level2", value=c.AnyValue(kvlist_value=c.KeyValueList(
                values=[c.KeyValue(key="level3", value=c.AnyValue(int_value=-1))]))),
            c.KeyValue(key="list", value=c.AnyValue(array_value=c.ArrayValue(
                values=[c.AnyValue(bool_value=True), c.AnyValue()]))),
        ]
    )
    return [
        c.KeyValue(key="python.string", value=c.AnyValue(string_value="ünïcödé \u2603 \"q\" \\ \t")),
        c.KeyValue(key="python.empty_string", value=c.AnyValue(string_value="")),
        c.KeyValue(key="python.true", value=c.AnyValue(bool_value=True)),
        c.KeyValue(key="python.false", value=c.AnyValue(bool_value=False)),
        c.KeyValue(key="python.int_zero", value=c.AnyValue(int_value=0)),
        c.KeyValue(key="python.int_min", value=c.AnyValue(int_value=-(2**63))),
        c.KeyValue(key="python.int_max", value=c.AnyValue(int_value=2**63 - 1)),
        c.KeyValue(key="python.int_unsafe_in_double", value=c.AnyValue(int_value=2**53 + 1)),
        c.KeyValue(key="python.double", value=c.AnyValue(double_value=-1.0e-300)),
        c.KeyValue(key="python.double_zero", value=c.AnyValue(double_value=0.0)),
        c.KeyValue(key="python.nan", value=c.AnyValue(double_value=math.nan)),
        c.KeyValue(key="python.inf", value=c.AnyValue(double_value=math.inf)),
        c.KeyValue(key="python.neg_inf", value=c.AnyValue(double_value=-math.inf)),
        c.KeyValue(key="python.bytes", value=c.AnyValue(bytes_value=b"\x00\xff\xfe\x80\x7f\x01\x02")),
        c.KeyValue(key="python.bytes_empty", value=c.AnyValue(bytes_value=b"")),
        c.KeyValue(key="python.array", value=c.AnyValue(array_value=c.ArrayValue(values=[
            c.AnyValue(string_value="a"), c.AnyValue(int_value=2), c.AnyValue(double_value=3.5),
            c.AnyValue(bytes_value=b"\x04"), c.AnyValue(array_value=c.ArrayValue()),
            c.AnyValue(kvlist_value=c.KeyValueList()), c.AnyValue()]))),
        c.KeyValue(key="python.kvlist", value=c.AnyValue(kvlist_value=nested)),
        c.KeyValue(key="python.empty", value=c.AnyValue()),
        c.KeyValue(key="python.absent"),
        c.KeyValue(key_strindex=4, value=c.AnyValue(string_value_strindex=9)),
    ]


def resource():
    return resource_pb2.Resource(
        attributes=[common_pb2.KeyValue(key="service.name", value=common_pb2.AnyValue(string_value="py"))]
        + any_values(),
        dropped_attributes_count=11,
        entity_refs=[
            common_pb2.EntityRef(
                schema_url="https://opentelemetry.io/schemas/1.30.0",
                type="service",
                id_keys=["service.name", "service.instance.id"],
                description_keys=["service.version"],
            )
        ],
    )


def scope():
    return common_pb2.InstrumentationScope(
        name="python.scope",
        version="9.9.9",
        attributes=[common_pb2.KeyValue(key="scope.attr", value=common_pb2.AnyValue(int_value=5))],
        dropped_attributes_count=2,
    )


def trace_request():
    t = trace_pb2
    spans = []
    for kind in range(6):
        for code in range(3):
            spans.append(
                t.Span(
                    trace_id=TRACE_ID,
                    span_id=bytes([kind, code, 3, 4, 5, 6, 7, 8]),
                    trace_state=f"vendor{kind}=value{code}",
                    parent_span_id=SPAN_ID if code else b"",
                    flags=0x301 if kind % 2 else 0xFFFFFFFF,
                    name=f"span {kind}/{code}",
                    kind=kind,
                    start_time_unix_nano=1_700_000_000_000_000_000 + kind,
                    end_time_unix_nano=2**64 - 1,
                    attributes=any_values(),
                    dropped_attributes_count=kind,
                    events=[
                        t.Span.Event(
                            time_unix_nano=1_700_000_000_000_000_500,
                            name="exception",
                            attributes=[common_pb2.KeyValue(
                                key="exception.message", value=common_pb2.AnyValue(string_value="boom"))],
                            dropped_attributes_count=1,
                        ),
                        t.Span.Event(),
                    ],
                    dropped_events_count=4,
                    links=[
                        t.Span.Link(
                            trace_id=bytes(16 - i for i in range(16)),
                            span_id=bytes([9] * 8),
                            trace_state="k=v",
                            attributes=any_values()[:3],
                            dropped_attributes_count=7,
                            flags=0x101,
                        ),
                        t.Span.Link(),
                    ],
                    dropped_links_count=5,
                    status=t.Status(message="status " * code, code=code),
                )
            )
    spans.append(t.Span())
    return trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[
            t.ResourceSpans(
                resource=resource(),
                scope_spans=[
                    t.ScopeSpans(scope=scope(), spans=spans, schema_url="https://opentelemetry.io/schemas/1.26.0"),
                    t.ScopeSpans(),
                ],
                schema_url="https://opentelemetry.io/schemas/1.25.0",
            ),
            t.ResourceSpans(),
        ]
    )


def exemplars():
    m = metrics_pb2
    return [
        m.Exemplar(
            filtered_attributes=any_values()[:4],
            time_unix_nano=1_700_000_000_000_000_123,
            as_double=-0.5,
            span_id=SPAN_ID,
            trace_id=TRACE_ID,
        ),
        m.Exemplar(time_unix_nano=1, as_int=-(2**63)),
        m.Exemplar(as_int=0),
    ]


def number_points(as_int):
    m = metrics_pb2
    values = [-(2**63), 0, 2**63 - 1] if as_int else [math.nan, -0.0, math.inf, 1.5e308]
    return [
        m.NumberDataPoint(
            attributes=any_values()[:2],
            start_time_unix_nano=1_699_999_999_000_000_000,
            time_unix_nano=1_700_000_000_000_000_000 + i,
            exemplars=exemplars(),
            flags=1 if i == 0 else 0,
            **({"as_int": v} if as_int else {"as_double": v}),
        )
        for i, v in enumerate(values)
    ]


def metrics_request():
    m = metrics_pb2
    metrics = [
        m.Metric(name="gauge.int", description="an int gauge", unit="{item}",
                 gauge=m.Gauge(data_points=number_points(True)),
                 metadata=[common_pb2.KeyValue(key="prometheus.type", value=common_pb2.AnyValue(string_value="gauge"))]),
        m.Metric(name="gauge.double", unit="1", gauge=m.Gauge(data_points=number_points(False))),
        m.Metric(name="sum.delta", unit="By", sum=m.Sum(
            data_points=number_points(True), aggregation_temporality=1, is_monotonic=True)),
        m.Metric(name="sum.cumulative", sum=m.Sum(
            data_points=number_points(False), aggregation_temporality=2, is_monotonic=False)),
        m.Metric(name="histogram", unit="s", histogram=m.Histogram(
            aggregation_temporality=1,
            data_points=[
                m.HistogramDataPoint(
                    attributes=any_values()[:1],
                    start_time_unix_nano=10,
                    time_unix_nano=20,
                    count=2**64 - 1,
                    sum=-12.25,
                    bucket_counts=[0, 1, 2**64 - 1, 3],
                    explicit_bounds=[-1.0, 0.0, 2.5e-7],
                    exemplars=exemplars(),
                    flags=1,
                    min=-0.0,
                    max=math.inf,
                ),
                m.HistogramDataPoint(time_unix_nano=30, count=0, sum=0.0, bucket_counts=[0]),
                m.HistogramDataPoint(time_unix_nano=40),
            ],
        )),
        m.Metric(name="exponential", exponential_histogram=m.ExponentialHistogram(
            aggregation_temporality=2,
            data_points=[
                m.ExponentialHistogramDataPoint(
                    attributes=any_values()[:3],
                    start_time_unix_nano=1,
                    time_unix_nano=2,
                    count=17,
                    sum=4.75,
                    scale=-10,
                    zero_count=3,
                    positive=m.ExponentialHistogramDataPoint.Buckets(offset=-5, bucket_counts=[1, 0, 2**64 - 1]),
                    negative=m.ExponentialHistogramDataPoint.Buckets(offset=2**31 - 1, bucket_counts=[6]),
                    flags=1,
                    exemplars=exemplars(),
                    min=-3.0,
                    max=8.0,
                    zero_threshold=1e-300,
                ),
                m.ExponentialHistogramDataPoint(
                    scale=20,
                    positive=m.ExponentialHistogramDataPoint.Buckets(),
                    negative=m.ExponentialHistogramDataPoint.Buckets(offset=-(2**31)),
                ),
            ],
        )),
        m.Metric(name="summary", summary=m.Summary(data_points=[
            m.SummaryDataPoint(
                attributes=any_values()[:2],
                start_time_unix_nano=5,
                time_unix_nano=6,
                count=9,
                sum=math.nan,
                quantile_values=[
                    m.SummaryDataPoint.ValueAtQuantile(quantile=0.0, value=0.25),
                    m.SummaryDataPoint.ValueAtQuantile(quantile=0.5, value=1.0),
                    m.SummaryDataPoint.ValueAtQuantile(quantile=1.0, value=1e100),
                    m.SummaryDataPoint.ValueAtQuantile(),
                ],
                flags=1,
            ),
        ])),
        m.Metric(name="no data"),
    ]
    return metrics_service_pb2.ExportMetricsServiceRequest(
        resource_metrics=[
            m.ResourceMetrics(
                resource=resource(),
                scope_metrics=[m.ScopeMetrics(scope=scope(), metrics=metrics, schema_url="https://s/1"), m.ScopeMetrics()],
                schema_url="https://s/2",
            ),
            m.ResourceMetrics(),
        ]
    )


def logs_request():
    lg = logs_pb2
    bodies = [kv.value for kv in any_values() if kv.HasField("value")]
    records = []
    for severity in range(25):
        records.append(
            lg.LogRecord(
                time_unix_nano=1_700_000_000_000_000_000 + severity,
                observed_time_unix_nano=2**64 - 1 - severity,
                severity_number=severity,
                severity_text=lg.SeverityNumber.Name(severity),
                body=bodies[severity % len(bodies)],
                attributes=any_values()[severity % 5:],
                dropped_attributes_count=severity,
                flags=severity % 2,
                trace_id=TRACE_ID if severity % 3 else b"",
                span_id=SPAN_ID if severity % 3 else b"",
                event_name=f"python.event.{severity}" if severity % 2 else "",
            )
        )
    records.append(lg.LogRecord())
    return logs_service_pb2.ExportLogsServiceRequest(
        resource_logs=[
            lg.ResourceLogs(
                resource=resource(),
                scope_logs=[lg.ScopeLogs(scope=scope(), log_records=records, schema_url="https://s/3"), lg.ScopeLogs()],
                schema_url="https://s/4",
            ),
            lg.ResourceLogs(),
        ]
    )


# The Rust test asserts these exact values (tests/conformance.rs, `python_responses_decode`).
PARTIAL_SUCCESS_MESSAGE = "2 of 3 rejected: timestamps out of range \u2014 retry won't help"
PARTIAL_SUCCESS_REJECTED = 2**40 + 3

FIXTURES = {
    "ExportTraceServiceRequest": trace_request,
    "ExportMetricsServiceRequest": metrics_request,
    "ExportLogsServiceRequest": logs_request,
    "ExportTraceServiceResponse": lambda: trace_service_pb2.ExportTraceServiceResponse(
        partial_success=trace_service_pb2.ExportTracePartialSuccess(
            rejected_spans=PARTIAL_SUCCESS_REJECTED, error_message=PARTIAL_SUCCESS_MESSAGE)),
    "ExportMetricsServiceResponse": lambda: metrics_service_pb2.ExportMetricsServiceResponse(
        partial_success=metrics_service_pb2.ExportMetricsPartialSuccess(
            rejected_data_points=PARTIAL_SUCCESS_REJECTED, error_message=PARTIAL_SUCCESS_MESSAGE)),
    "ExportLogsServiceResponse": lambda: logs_service_pb2.ExportLogsServiceResponse(
        partial_success=logs_service_pb2.ExportLogsPartialSuccess(
            rejected_log_records=PARTIAL_SUCCESS_REJECTED, error_message=PARTIAL_SUCCESS_MESSAGE)),
}


def fixture(name):
    message = FIXTURES[name]()
    reply = answer(message)
    add_unknown_fields(message)
    reply["protobuf_with_unknown_fields"] = message.SerializeToString().hex()
    return reply


def main(argv):
    if len(argv) != 3 or argv[2] not in MESSAGES:
        sys.exit(f"usage: {argv[0]} from-protobuf|from-json|fixture MESSAGE (one of {sorted(MESSAGES)})")
    command, name = argv[1], argv[2]
    cls = MESSAGES[name]
    if command == "from-protobuf":
        reply = from_protobuf(cls, sys.stdin.buffer.read())
    elif command == "from-json":
        reply = from_json(cls, sys.stdin.buffer.read())
    elif command == "fixture":
        reply = fixture(name)
    else:
        sys.exit(f"unknown command {command!r}")
    json.dump(reply, sys.stdout)


if __name__ == "__main__":
    main(sys.argv)
