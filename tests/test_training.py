"""Training that converges: early stopping on held-out rows ends a small problem well before the
step budget, keeps the best weights, and takes more than a handful of steps on small data."""

from __future__ import annotations

import numpy as np
import torch

from forecasting.training import fit_minibatch
from shopdata.progress import Progress, reporting


def _problem(rows: int, seed: int = 0) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(rows, 3, generator=generator)
    y = x @ torch.tensor([1.0, -2.0, 0.5]) + 0.1 * torch.randn(rows, generator=generator)
    torch.manual_seed(seed)
    return torch.nn.Linear(3, 1), x, y


def test_early_stopping_converges_and_reports() -> None:
    model, x, y = _problem(2000)

    def loss(batch: torch.Tensor) -> torch.Tensor:
        return ((model(x[batch]).squeeze(1) - y[batch]) ** 2).mean()

    report = fit_minibatch(
        model, loss, 2000, generator=np.random.default_rng(0), device=torch.device("cpu")
    )
    assert report.stopped.startswith("no improvement") and report.steps < 4000
    assert report.steps >= 300  # small data still gets its minimum of optimiser steps
    assert report.batch_size == 2000 * 9 // 10 // 8
    assert report.best_validation_loss < 0.05 < report.first_validation_loss
    np.testing.assert_allclose(model.weight.detach().numpy()[0], [1.0, -2.0, 0.5], atol=0.05)


def test_fixed_epochs_train_on_every_row() -> None:
    model, x, y = _problem(100)

    def loss(batch: torch.Tensor) -> torch.Tensor:
        return ((model(x[batch]).squeeze(1) - y[batch]) ** 2).mean()

    events: list[Progress] = []
    with reporting(events.append):
        report = fit_minibatch(
            model,
            loss,
            100,
            generator=np.random.default_rng(0),
            device=torch.device("cpu"),
            epochs=3,
            batch_size=40,
            step="uplift training",
        )
    assert (report.steps, report.epochs, report.stopped) == (9, 3, "fixed epochs")
    assert report.best_validation_loss is None
    # counted like early stopping's epochs, with the total known
    assert [(e.step, e.done, e.total) for e in events][-2:] == [
        ("uplift training", 3, 3),
        ("uplift training", 3, 3),
    ]
    assert events[-1].finished and events[0].done == 0
