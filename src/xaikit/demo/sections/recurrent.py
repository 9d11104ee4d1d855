"""Demo section: an LSTM that finds one event in a series, explained per time step."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from xaikit.demo.context import DemoContext
from xaikit.demo.methods import MethodRun
from xaikit.demo.registry import register_section
from xaikit.report import Section

TITLE = "Recurrent network: the event an LSTM's decision rests on"
LENGTH = 30


class EventLSTM(nn.Module):
    """``nn.LSTM`` over series ``(N, 1, T)`` (channels first, as xaikit's plots take them), read at the last step."""

    def __init__(self, hidden: int = 16) -> None:
        super().__init__()
        self.lstm = nn.LSTM(1, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 2)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.lstm(x.transpose(1, 2))[0][:, -1])


def event_data(n: int, generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
    """Noise with one event: a +2 spike (class 1) or a -2 spike (class 0) at a random time; returns x, y, times."""
    x = 0.2 * torch.randn(n, 1, LENGTH, generator=generator)
    y = torch.randint(0, 2, (n,), generator=generator)
    times = torch.randint(5, LENGTH - 5, (n,), generator=generator)
    x[torch.arange(n), 0, times] += 2.0 * (2 * y - 1).float()
    return x, y, times


def train_event_lstm(seed: int) -> EventLSTM:
    """Train :class:`EventLSTM` for about two seconds, leaving the global random state untouched."""
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = EventLSTM()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
        for _ in range(300):
            x, y, _ = event_data(64, generator)
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
    return model.eval()


@register_section("recurrent", TITLE, order=36)
def recurrent_section(context: DemoContext) -> Section:
    """Explain the LSTM's decision with LRP (gates held constant) and integrated gradients."""
    from xaikit import plot

    model = train_event_lstm(context.seed).double()
    x, y, times = event_data(200, torch.Generator().manual_seed(context.seed + 3))
    x = x.double()
    with torch.no_grad():
        predicted = model(x).argmax(1)
    accuracy = float((predicted == y).double().mean())
    runs = (MethodRun("LRP cp_lrp", "lrp", {"composite": "cp_lrp"}),
            MethodRun("integrated gradients", "integrated_gradients", {"steps": 16, "progress": False}),
            MethodRun("occlusion", "occlusion", {"progress": False}))
    section = Section(TITLE).add_text(
        "An LSTM (nn.LSTM, 16 units) is trained for about two seconds to tell whether a noisy series holds a "
        f"positive or a negative spike at some time (test accuracy {accuracy:.0%}). xaikit runs the fused "
        "LSTM kernel as an unrolled computation with the module's own weights, holding the gates constant "
        "(the signal takes all relevance), so LRP applies to it like to any other layer. Occlusion, which "
        "removes one time step at a time, tells how much the model itself relies on the event rather than "
        "on the last steps."
    )
    rows = []
    for run in runs:
        e = run.explain(model, x, predicted)
        found = float((e.attribution.abs().sum(1).argmax(1) == times).double().mean())
        rows.append((run.label, found))
        if run.method == "occlusion":
            continue
        figure = plot.time_series(x[0], e.attribution[0], channel_names=["series"],
                                  title=f"{run.label}: relevance per time step")
        section.add_figure(figure, f"{run.label}, first test series (event at t = {int(times[0])}).",
                           name=f"figures/recurrent-{run.method}.png")
    import pandas as pd

    section.add_table(pd.DataFrame(rows, columns=["method", "largest relevance at the event"]),
                      "Share of 200 test series whose most relevant time step is the event.",
                      name="tables/recurrent-event.csv", precision=2)
    share_at_event = dict(rows)
    reading = (
        "the LSTM decides from the spike, not from the last steps it read, and LRP with the gates held "
        "constant reads that off in one backward pass"
        if share_at_event["occlusion"] >= 0.5 else  # the model's own answer, by removal
        "the model does not rely on the spike alone, and the maps should be read with that in mind"
    )
    section.add_conclusion(
        f"LRP puts its largest relevance on the event in {share_at_event['LRP cp_lrp']:.0%} of the test series, "
        f"integrated gradients in {share_at_event['integrated gradients']:.0%}, and occlusion, which asks the model "
        f"itself, in {share_at_event['occlusion']:.0%}: {reading}."
    )
    return section
