#!/usr/bin/env python3
"""The Python side of tests/conformance_grpc.rs: an OTLP/gRPC collector that is not ours.

The official gRPC runtime (grpcio) serves the three OTLP collector services through the stubs
opentelemetry-proto generated for them (its *_pb2_grpc modules), so the request is framed, maybe
decompressed, and parsed by the official code alone; errors carry a google.rpc.Status built with the
official classes (grpcio-status, googleapis-common-protos).

Usage: otlp_grpc_server.py SCRIPT

SCRIPT is JSON: {"traces": [REPLY, ...], "metrics": [...], "logs": [...]}. Each Export call of a
signal takes the next REPLY of its list, and succeeds once the list is empty. A REPLY is
  {"code": N, "message": TEXT}                         a status (0 is OK), with a google.rpc.Status
                                                        in grpc-status-details-bin when N is not 0;
  {"code": 8, "message": TEXT, "retry_delay_ms": MS}   the same, the Status carrying a RetryInfo;
  {"rejected": N, "message": TEXT}                     OK with a partial success rejecting N items.

stdout: first {"port": PORT} (it listens on 127.0.0.1, on a port the system chose), then one line per
call: {"signal", "code" (what it answered), "at" (monotonic seconds), "metadata" (the call's text
metadata), "protobuf" (hex of the request re-serialized without unknown fields), "json" (its
OTLP/JSON)}. It serves until its stdin closes, so it ends with the test that started it.
"""

import json
import sys
import threading
import time
from concurrent import futures

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from otlp_python import to_otlp_json

OUTPUT = threading.Lock()


def emit(record):
    with OUTPUT:
        sys.stdout.write(json.dumps(record) + "\n")
        sys.stdout.flush()


class Script:
    """The scripted replies, taken in order per signal by concurrent calls."""

    def __init__(self, text):
        self.replies = {signal: list(replies) for signal, replies in json.loads(text).items()}
        self.lock = threading.Lock()

    def next(self, signal):
        with self.lock:
            queue = self.replies.get(signal, [])
            return queue.pop(0) if queue else {"code": 0}


def error_status(reply):
    """The google.rpc.Status of a failed call, with RetryInfo when the reply asks for it."""
    status = status_pb2.Status(code=reply["code"], message=reply.get("message", ""))
    if "retry_delay_ms" in reply:
        info = error_details_pb2.RetryInfo()
        info.retry_delay.FromMilliseconds(reply["retry_delay_ms"])
        status.details.add().Pack(info)
    return rpc_status.to_status(status)


def export(script, signal, request, context, success):
    """One Export call: records what arrived, then answers as the script says."""
    # A field this package does not know would be re-serialized verbatim; dropping unknowns makes
    # a schema mismatch show as a missing field in the test's comparison.
    request.DiscardUnknownFields()
    reply = script.next(signal)
    code = reply.get("code", 0)
    emit(
        {
            "signal": signal,
            "code": code,
            "at": time.monotonic(),
            "metadata": {key: value for key, value in context.invocation_metadata() if not key.endswith("-bin")},
            "protobuf": request.SerializeToString().hex(),
            "json": to_otlp_json(request),
        }
    )
    if code:
        context.abort_with_status(error_status(reply))
    return success(reply.get("rejected", 0), reply.get("message", ""))


def servicers(script):
    """The three services' servicers, built on the generated base classes."""

    def trace_success(rejected, message):
        partial = trace_service_pb2.ExportTracePartialSuccess(rejected_spans=rejected, error_message=message)
        return trace_service_pb2.ExportTraceServiceResponse(partial_success=partial if rejected else None)

    def metrics_success(rejected, message):
        partial = metrics_service_pb2.ExportMetricsPartialSuccess(rejected_data_points=rejected, error_message=message)
        return metrics_service_pb2.ExportMetricsServiceResponse(partial_success=partial if rejected else None)

    def logs_success(rejected, message):
        partial = logs_service_pb2.ExportLogsPartialSuccess(rejected_log_records=rejected, error_message=message)
        return logs_service_pb2.ExportLogsServiceResponse(partial_success=partial if rejected else None)

    class Traces(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(self, request, context):
            return export(script, "traces", request, context, trace_success)

    class Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
        def Export(self, request, context):
            return export(script, "metrics", request, context, metrics_success)

    class Logs(logs_service_pb2_grpc.LogsServiceServicer):
        def Export(self, request, context):
            return export(script, "logs", request, context, logs_success)

    return Traces(), Metrics(), Logs()


def main(argv):
    if len(argv) != 2:
        sys.exit(f"usage: {argv[0]} SCRIPT_JSON")
    traces, metrics, logs = servicers(Script(argv[1]))
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(traces, server)
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(metrics, server)
    logs_service_pb2_grpc.add_LogsServiceServicer_to_server(logs, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    emit({"port": port})
    sys.stdin.read()
    server.stop(0)


if __name__ == "__main__":
    main(sys.argv)
