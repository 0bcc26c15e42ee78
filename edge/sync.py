"""Keeps the edge's config current from the control plane's WatchConfig stream."""

from __future__ import annotations

import asyncio
import logging

import grpc
from clickgate.v1 import config_pb2, config_pb2_grpc

from edge.certs import CertInstaller
from edge.config import ConfigError, EdgeConfig, save_snapshot
from edge.shipper import auth_metadata, backoff
from edge.state import EdgeState

log = logging.getLogger("clickgate.edge.sync")


async def watch_config(state: EdgeState, channel: grpc.aio.Channel) -> None:
    """Run until cancelled: apply each valid snapshot, persist it, reconnect on failure."""
    stub = config_pb2_grpc.ConfigStub(channel)
    metadata = auth_metadata(state.settings.control_token)
    failures = 0
    installer = cert_installer(state)
    await install_certificates(state, installer)  # from the persisted snapshot, if any
    while True:
        config = state.config
        request = config_pb2.WatchConfigRequest(
            edge_id=state.settings.node_id,
            revision=config.revision if config else 0,
            key_ids_held=sorted(config.keys) if config else [],
        )
        try:
            async for snap in stub.WatchConfig(request, metadata=metadata):
                apply_snapshot(state, snap)
                failures = 0
                await acknowledge(state, stub, metadata)
                await install_certificates(state, installer)
        except grpc.aio.AioRpcError as exc:
            failures += 1
            log.info("config stream: %s; reconnecting", exc.code())
        await asyncio.sleep(backoff(failures))


async def acknowledge(
    state: EdgeState, stub: config_pb2_grpc.ConfigAsyncStub, metadata: tuple[tuple[str, str], ...]
) -> None:
    """Tell the control plane which revision and keys we hold (gates key activation)."""
    config = state.config
    if config is None:
        return
    ack = config_pb2.AckConfigRequest(
        edge_id=state.settings.node_id, revision=config.revision, key_ids_held=sorted(config.keys)
    )
    try:
        await stub.AckConfig(ack, metadata=metadata, timeout=5)
    except grpc.aio.AioRpcError as exc:
        log.info("config ack failed: %s", exc.code())


def cert_installer(state: EdgeState) -> CertInstaller | None:
    """Only the first worker of an edge feeds the TLS terminator (they share cert_dir)."""
    settings = state.settings
    if not settings.cert_dir or state.slot_index != 0:
        return None
    return CertInstaller(settings.cert_dir, settings.haproxy_socket)


async def install_certificates(state: EdgeState, installer: CertInstaller | None) -> None:
    if installer is not None and state.config is not None:
        config = state.config
        await asyncio.to_thread(installer.apply, config.certificates, config.https_only)


def apply_snapshot(state: EdgeState, snap: config_pb2.ConfigSnapshot) -> None:
    """Swap in a snapshot that validates; keep the current one otherwise."""
    try:
        config = EdgeConfig.from_snapshot(snap)
    except ConfigError as exc:
        log.error("refused config revision %d: %s", snap.revision, exc)
        return
    state.set_config(config)
    if state.sealer is None:
        return  # no snapshot key: keys stay in memory only
    try:
        save_snapshot(state.data_dir, snap, state.sealer)
    except OSError as exc:
        log.error("could not persist config snapshot: %s", exc)
