"""Hosted mode (PLAYGROUND_HOSTED=1): caps that keep one shared server usable by many visitors.

Sized for Streamlit Community Cloud (up to 2 CPUs, ~2.7 GB RAM, one process for everyone).
Each cap can be overridden with an environment variable PLAYGROUND_MAX_<NAME>, e.g.
PLAYGROUND_MAX_EPOCHS=50. Outside hosted mode only the queue length is capped.

Ownership: in hosted mode a run belongs to the visitor who started it. A visitor is a random key
kept in their browser (a cookie, never in a link); the run store keeps only `owner_id(key)`, so a
downloaded run or a shared link never carries what it takes to control the run.
"""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Caps:
    hosted: bool = False
    epochs: int | None = None              # per run
    steps: int | None = None               # per run, for labs counted in steps
    env_steps: int | None = None           # per run, an agent's steps in its environment
    params: int | None = None              # trainable parameters of a model
    samples: int | None = None             # generated points / training examples used
    tokens: int | None = None              # words of a corpus (Word2Vec's corpus_tokens)
    running: int = 1                       # runs training at once, per device
    running_per_session: int | None = None
    queued: int = 32                       # runs waiting, overall
    queued_per_session: int | None = None  # runs waiting or running, per visitor
    stored: int | None = None              # runs kept on disk, overall (oldest finished pruned)
    stored_per_visitor: int | None = None  # runs kept on disk, per visitor
    seconds: int | None = None             # wall-clock seconds of training per run
    updates: int | None = None             # optimizer steps per run, whatever the epochs
    submissions_per_minute: int | None = None  # runs queued per visitor per minute
    # A visitor's address (see client_address) outlives a new cookie, a private window; it is
    # also shared by a whole audience behind one network, hence looser caps than a visitor's
    address_submissions_per_minute: int | None = None
    queued_per_address: int | None = None
    uploads_per_visitor: int | None = None     # uploaded files kept per visitor
    uploads_mb: int | None = None              # uploaded files kept overall, in MB
    # work the Streamlit server does itself on a click (engine/server.py), outside the queue
    server_params: int | None = None    # parameters of a model it loads for a look
    server_steps: int | None = None     # sampling steps of one look (Sample again)
    server_examples: int | None = None  # examples a hand-made step draws from
    server_seconds: int | None = None   # seconds of model work for pages per visitor, 10 minutes

    def describe(self) -> str:
        parts = [f"at most {v:,} {k}" for k, v in (
            ("epochs", self.epochs), ("steps", self.steps),
            ("environment steps", self.env_steps), ("parameters", self.params),
            ("training examples", self.samples), ("corpus words", self.tokens)) if v]
        parts.append(f"{self.running} run(s) training at once, {self.queued} waiting")
        if self.queued_per_session:
            parts.append(f"{self.queued_per_session} per visitor")
        return "; ".join(parts)

    def describe_retention(self) -> str:
        """What the store keeps, in words ('' when it keeps everything)."""
        parts = []
        if self.stored_per_visitor:
            parts.append(f"your newest {self.stored_per_visitor:,} runs")
        if self.stored:
            parts.append(f"{self.stored:,} runs overall")
        if not parts:
            return ""
        return (f"This server keeps {' and '.join(parts)}: beyond that the oldest finished runs "
                "are deleted (never one that is training).")


HOSTED_DEFAULTS = Caps(hosted=True, epochs=200, steps=5000, env_steps=100_000, params=2_000_000,
                       samples=10_000,
                       tokens=200_000,
                       running=1, running_per_session=1, queued=8, queued_per_session=4,
                       stored=200, stored_per_visitor=20, seconds=300, updates=50_000,
                       submissions_per_minute=6, address_submissions_per_minute=24,
                       queued_per_address=5, uploads_per_visitor=10, uploads_mb=100,
                       server_params=2_000_000, server_steps=1000,
                       server_examples=1024, server_seconds=120)

VISITOR_KEY = re.compile(r"^[0-9a-f]{32}$")


def client_address(forwarded_for: str | None, peer: str | None) -> str | None:
    """The visitor's address behind the host's proxies: walking X-Forwarded-For from the right
    (what the proxies appended, which a visitor cannot forge), the first public address; the
    connection's own address when there is no header. None locally (nothing to tell apart)."""
    import ipaddress

    hops = [h.strip() for h in (forwarded_for or "").split(",") if h.strip()][-8:]
    for hop in reversed([*hops, peer] if not hops else hops):
        try:
            ip = ipaddress.ip_address(hop)
        except ValueError:
            continue
        if ip.is_global:
            return str(ip)
    return None


def owner_id(visitor_key: str) -> str:
    """What the run store records for a visitor: a one-way digest of their key."""
    return hashlib.sha256(f"neural-playground-owner:{visitor_key}".encode()).hexdigest()[:32]


def caps() -> Caps:
    hosted = os.environ.get("PLAYGROUND_HOSTED", "").strip().lower() in ("1", "true", "yes", "on")
    base = HOSTED_DEFAULTS if hosted else Caps()
    values = {}
    for f in fields(Caps):
        raw = os.environ.get(f"PLAYGROUND_MAX_{f.name.upper()}")
        if raw and f.name != "hosted":
            try:
                values[f.name] = int(raw)
            except ValueError:
                pass
    return Caps(**{**base.__dict__, **values})


def limits(config_cls, c: Caps | None = None) -> dict:
    """Tighter upper bounds for the Config fields that the caps govern."""
    c = c or caps()
    names = {f.name for f in fields(config_cls)}
    out = {}
    # the most specific first: env_steps has its own cap, not the "_steps" of teacher-like fields
    for field_name, cap in (("env_steps", c.env_steps), ("epochs", c.epochs), ("steps", c.steps),
                            ("n_samples", c.samples), ("reviews", c.samples),
                            ("tokens", c.tokens)):
        for name in names - set(out):
            if cap and (name == field_name or name.endswith("_" + field_name)):
                out[name] = (None, cap)        # teacher_epochs too
    return out
