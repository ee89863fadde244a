"""``AsyncForge``: the one forge client plugins, the merge controller and repair act through.

Built from the ``ForgeClient`` interface rather than written out per method: every method of the
interface becomes a coroutine that binds its arguments to the interface's signature and sends one
``Call`` down the layers (``bot.forge.layers``), as its row in ``bot.forge.policy`` says.  So a new
forge method needs the interface, the adapters and one policy row, and nothing here.

The layers are composed once, in the composition root (``bot.app.compose_forge``):
deferring ∘ metering ∘ retrying ∘ pacing ∘ caching ∘ off-loop execution ∘ adapter (each attempt of
a write takes its own token: each is a request).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from bot.forge.base import Capabilities, ForgeClient
from bot.forge.deferral import Deferring
from bot.forge.layers import Caching, Call, Handler, Metering, Pacing, Retrying
from bot.forge.offloop import OffLoop
from bot.forge.policy import NATIVE_CI, POLICIES, Kind, Policy

T = TypeVar("T")


def interface_methods() -> dict[str, inspect.Signature]:
    """The operations of ``ForgeClient`` by name, with their signatures."""
    return {
        name: inspect.signature(member)
        for name, member in vars(ForgeClient).items()
        if callable(member) and not name.startswith("_")
    }


class AsyncForge:
    """Awaitable, layered facade over a blocking ForgeClient.  Its interface methods are added
    below from ``ForgeClient``; LOCAL ones stay synchronous."""

    def __init__(self, client: ForgeClient, offloop: OffLoop, *, caching: Caching, pacing: Pacing,
                 retrying: Retrying, metering: Metering, deferring: Deferring) -> None:
        """``deferring`` is the top of the stack every call enters; the others are named so that
        their owners can reach them (cache invalidation, the write budget, the meters)."""
        self._client = client
        self._offloop = offloop
        self.caching = caching
        self.pacing = pacing
        self.retrying = retrying
        self.metering = metering
        self.deferring = deferring
        self._call: Handler = deferring

    @property
    def name(self) -> str:
        return self._client.name

    @property
    def capabilities(self) -> Capabilities:
        return self._client.capabilities

    @property
    def transport(self) -> Any:
        """The adapter's HTTP transport (conditional requests, request meter), if it has one."""
        return getattr(self._client, "transport", None)

    async def native_ci(self, row: str, fn: Callable[..., T], ref: Any, *args: Any) -> T:
        """A blocking call of the forge's native CI (``bot.ci.native``) down the same layers as the
        interface's methods — metered, retried, and paced when a write — as its row ``row`` in
        ``bot.forge.policy.NATIVE_CI`` says."""
        arguments = {"ref": ref, "call": getattr(fn, "__name__", repr(fn)), "args": list(args)}
        return await self._call(Call(row, arguments, NATIVE_CI[row], (ref, *args), target=fn))

    def forget(self, method: str, *args: Any, **kwargs: Any) -> None:
        """Drop the cached answer to ``method(*args)``: the next such call asks the forge."""
        self.caching.forget(_call(method, _policy(method), args, kwargs))

    def close(self) -> None:
        self._offloop.close()


_SIGNATURES = interface_methods()


def _bind(method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> inspect.BoundArguments:
    bound = _SIGNATURES[method].bind(None, *args, **kwargs)  # None stands for self
    bound.apply_defaults()
    return bound


def _call(method: str, policy: Policy, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call:
    bound = _bind(method, args, kwargs)
    # Sequences go to the adapter as lists, as the interface documents them.
    arguments = {name: list(v) if isinstance(v, (tuple, frozenset, set)) else v
                 for name, v in bound.arguments.items() if name != "self"}
    positional = tuple(list(v) if isinstance(v, (tuple, frozenset, set)) else v for v in bound.args[1:])
    return Call(method, arguments, policy, positional, bound.kwargs)


def _forwarder(method: str, policy: Policy) -> Callable[..., Any]:
    doc_source = getattr(ForgeClient, method)
    if policy.kind is Kind.LOCAL:
        @functools.wraps(doc_source)
        def local(self: AsyncForge, *args: Any, **kwargs: Any) -> Any:
            return getattr(self._client, method)(*args, **kwargs)

        return local

    @functools.wraps(doc_source)
    async def forward(self: AsyncForge, *args: Any, **kwargs: Any) -> Any:
        return await self._call(_call(method, policy, args, kwargs))

    return forward


def _policy(method: str) -> Policy:
    policy = POLICIES.get(method)
    if policy is None:
        raise LookupError(f"ForgeClient.{method} has no row in bot.forge.policy.POLICIES: add one")
    return policy


for _name in _SIGNATURES:
    setattr(AsyncForge, _name, _forwarder(_name, _policy(_name)))
