"""The schema of models/versions.yaml: versions, their recipes and their build-time faults."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Version names become bento/model/image tags and Kubernetes object names (digits-classifier-<name>).
NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$"
VersionName = Annotated[str, Field(pattern=NAME_PATTERN)]
# Must match models/training.py's ALGORITHMS (a unit test checks both lists agree).
Algorithm = Literal["logistic_regression", "svc", "knn", "mlp"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Data(_Strict):
    """Training data options; the held-out split is the same for every version."""

    train_fraction: float = Field(1.0, gt=0, le=1)


class Recipe(_Strict):
    """How to train the model: a scikit-learn algorithm, its parameters and the training data."""

    algorithm: Algorithm
    params: dict[str, Any] = Field(default_factory=dict)
    data: Data = Data()


class Latency(_Strict):
    """Added latency, lognormal: median_ms × e^(sigma·Z); `fraction` of requests get it (1 = all)."""

    median_ms: float = Field(gt=0, le=60_000)
    sigma: float = Field(0.5, ge=0, le=3)
    fraction: float = Field(1.0, gt=0, le=1)


class Errors(_Strict):
    """A share of valid prediction requests answered with a 5xx status."""

    rate: float = Field(gt=0, le=1)
    status: int = Field(503, ge=500, le=599)


class CorruptLabels(_Strict):
    """Train on labels where this share of rows was given a wrong class (lower held-out accuracy)."""

    fraction: float = Field(gt=0, lt=1)


class Leak(_Strict):
    """Memory kept forever per answered prediction request."""

    kib_per_request: float = Field(gt=0, le=10_240)


class ColdStart(_Strict):
    """Seconds from the server's first answer (probe or request) until /readyz passes.

    /predict answers 503 (with Retry-After) until then; /livez passes all along.
    """

    seconds: float = Field(gt=0, le=600)


class Faults(_Strict):
    """Build-time faults: part of the version's identity, never switched at run time."""

    seed: int = Field(0, ge=0, description="seeds every fault's randomness, so runs repeat")
    latency: Latency | None = None
    errors: Errors | None = None
    corrupt_labels: CorruptLabels | None = None
    leak: Leak | None = None
    cold_start: ColdStart | None = None

    def kinds(self) -> list[str]:
        return [name for name in ("latency", "errors", "corrupt_labels", "leak", "cold_start") if getattr(self, name)]


class Entry(_Strict):
    """One version as written in the catalogue: its own recipe, or `base` (reuse another's recipe)."""

    description: str = ""
    base: VersionName | None = None
    recipe: Recipe | None = None
    faults: Faults = Faults()

    @model_validator(mode="after")
    def _recipe_or_base(self) -> Entry:
        if (self.base is None) == (self.recipe is None):
            raise ValueError("give exactly one of `recipe` (how to train) or `base` (reuse that version's recipe)")
        return self


class Serving(_Strict):
    """Limits every version's server enforces; part of each version's content."""

    max_batch: int = Field(64, ge=1, le=1024)
    max_body_kib: int = Field(1024, ge=1, le=65_536)
    feedback_ttl_seconds: float = Field(600, gt=0, le=86_400)
    feedback_max_requests: int = Field(10_000, ge=1, le=1_000_000)


class CatalogueFile(_Strict):
    model: Annotated[str, Field(pattern=NAME_PATTERN)]
    service: Annotated[str, Field(pattern=NAME_PATTERN)]
    serving: Serving = Serving()
    versions: dict[VersionName, Entry] = Field(min_length=1)
