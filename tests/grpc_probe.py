"""Probes a ragmesh gRPC service with off-the-shelf Python clients: grpcio-health-checking
(grpc.health.v1) and grpcio-reflection. Run by tests/e2e/grpc_tools.rs; prints one JSON
object so the Rust test can assert on it.

usage: grpc_probe.py HOST:PORT SERVICE_NAME
"""

import json
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc


def health(stub, service):
    try:
        answer = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        return health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)
    except grpc.RpcError as err:
        return "error:" + err.code().name


def reflection(channel, symbol):
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    requests = [
        reflection_pb2.ServerReflectionRequest(list_services=""),
        reflection_pb2.ServerReflectionRequest(file_containing_symbol=symbol),
    ]
    services, files = [], 0
    for response in stub.ServerReflectionInfo(iter(requests), timeout=5):
        if response.HasField("list_services_response"):
            services = [s.name for s in response.list_services_response.service]
        elif response.HasField("file_descriptor_response"):
            files = len(response.file_descriptor_response.file_descriptor_proto)
        elif response.HasField("error_response"):
            files = -response.error_response.error_code
    return services, files


def main():
    target, service = sys.argv[1], sys.argv[2]
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        services, files = reflection(channel, service)
        print(
            json.dumps(
                {
                    "service": health(stub, service),
                    "overall": health(stub, ""),
                    "unknown": health(stub, "no.such.Service"),
                    "reflected_services": services,
                    "descriptor_files": files,
                }
            )
        )


if __name__ == "__main__":
    main()
