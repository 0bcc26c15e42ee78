"""Keeps the edge's config current from the control plane's WatchConfig stream (in the agent)."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import grpc
from clickgate.v1 import config_pb2, config_pb2_grpc

from edge.certs import CertInstaller
from edge.config import ConfigError, EdgeConfig, save_snapshot
from edge.shipper import auth_metadata, backoff

if TYPE_CHECKING:
    from edge.agent import AgentState

log = logging.getLogger("clickgate.edge.sync")


async def watch_config(state: AgentState, channel: grpc.aio.Channel) -> None:
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
                await install_certificates(state, installer)
        except grpc.aio.AioRpcError as exc:
            failures += 1
            log.info("config stream: %s; reconnecting", exc.code())
        await asyncio.sleep(backoff(failures, state.settings.ship_max_backoff))


async def acknowledge_forever(state: AgentState, channel: grpc.aio.Channel) -> None:
    """Ack a revision once every live worker has loaded it (gates key activation)."""
    stub = config_pb2_grpc.ConfigStub(channel)
    metadata = auth_metadata(state.settings.control_token)
    acked = 0
    while True:
        config = state.config
        if config is not None and config.revision != acked and state.workers_hold(config.revision):
            ack = config_pb2.AckConfigRequest(
                edge_id=state.settings.node_id,
                revision=config.revision,
                key_ids_held=sorted(config.keys),
            )
            try:
                await stub.AckConfig(ack, metadata=metadata, timeout=5)
                acked = config.revision
            except grpc.aio.AioRpcError as exc:
                log.info("config ack failed: %s", exc.code())
        await asyncio.sleep(0.05)


def cert_installer(state: AgentState) -> CertInstaller | None:
    """The agent alone feeds the TLS terminator (workers share its cert_dir)."""
    settings = state.settings
    if not settings.cert_dir:
        return None
    return CertInstaller(settings.cert_dir, settings.haproxy_socket)


async def install_certificates(state: AgentState, installer: CertInstaller | None) -> None:
    if installer is not None and state.config is not None:
        config = state.config
        await asyncio.to_thread(installer.apply, config.certificates, config.https_only)


def apply_snapshot(state: AgentState, snap: config_pb2.ConfigSnapshot) -> None:
    """Persist a snapshot that validates, for the workers; keep the current one otherwise."""
    try:
        config = EdgeConfig.from_snapshot(snap)
    except ConfigError as exc:
        log.error("refused config revision %d: %s", snap.revision, exc)
        return
    try:
        save_snapshot(state.data_dir, snap, state.sealer)
    except OSError as exc:
        log.error("could not write config snapshot: %s", exc)
        return
    state.config = config
