"""The run's outputs on disk and the summary a person reads at the end."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from analysis.config import AnalysisConfig
from analysis.plots import plot_all
from analysis.publish.efficiency import write_root as write_efficiency_root
from analysis.publish.top_tag_efficiency import write_root as write_top_tag_root
from common.timing import Laps
from processors.compat import format_inputs, inputs_summary
from workflows.outputs import (
    staged_output,
    write_features,
    write_histograms_root,
    write_json,
    yields_table,
)
from workflows.pipeline import RunResult


def write_outputs(result: RunResult, config: AnalysisConfig, outdir: Path,
                  plots: bool = True, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write histograms, cutflow, feature tables, plots and summary; return the summary.

    Written into a staging folder that replaces ``outdir`` only once everything is there.
    """
    out = result.output
    laps = Laps()
    seconds, lap = laps.seconds, laps.lap

    with staged_output(outdir) as stage:
        n_hists = write_histograms_root(out["hists"], stage / "histograms.root")
        if "btag_efficiency" in out:  # the export stage's b-tagging efficiency tables
            write_efficiency_root(out["btag_efficiency"], stage / "efficiency.root")
        if "top_tag_efficiency" in out:  # the top taggers' tables, in the same file
            write_top_tag_root(out["top_tag_efficiency"], stage / "efficiency.root")
        lap("histograms")
        write_json(out["cutflow"], stage / "cutflow.json")
        write_json(out.get("cutflow_variations", {}), stage / "cutflow_variations.json")
        rows = write_features(out["features"], stage / "features")
        table = yields_table(out["yields"])
        table.to_csv(stage / "yields.csv", index=False)
        lap("features_and_tables")
        pngs = plot_all(out["hists"], config.luminosity_fb, stage / "plots") if plots else []
        lap("plots")
        summary = {
            "complete": True,
            "events_processed": result.events,
            "processing_seconds": round(result.seconds, 3),
            "events_per_second": round(result.events_per_second, 1),
            "histogram_slices": n_hists,
            "feature_rows": rows,
            "plots": len(pngs),
            "writing_seconds": seconds,
            "normalization": {
                name: {"sumw": ds.sumw, "source": ds.sumw_source,
                       "norm": result.info[name].norm if name in result.info else None}
                for name, ds in result.fileset.datasets.items()
            },
            "bad_files": [asdict(b) for b in result.bad_files],
            "inputs": inputs_summary(
                {n: ds.flavours for n, ds in result.fileset.datasets.items()},
                out.get("skipped_variations", {}), out.get("entries", {}),
                _lost_events(result.bad_files)),
            "missing_trigger_paths": {k: sorted(v) for k, v in
                                      out.get("missing_trigger_paths", {}).items() if v},
            "yields": table.to_dict(orient="records"),
            **(extra or {}),
        }
        write_json(summary, stage / "summary.json")
    return summary


def _lost_events(bad_files: list[Any]) -> dict[str, int]:
    """Events held by skipped files, per dataset (unknown counts as 0)."""
    lost: dict[str, int] = {}
    for b in bad_files:
        lost[b.dataset] = lost.get(b.dataset, 0) + (b.events or 0)
    return lost


def format_summary(summary: dict[str, Any], outdir: Path) -> str:
    """A human-readable summary: yields per region and process, rate, skipped files."""
    import pandas as pd

    lines = [f"fourtops: outputs in {outdir}"]
    table = pd.DataFrame(summary["yields"])
    if not table.empty:
        pivot = table.pivot(index="region", columns="process", values="yield").fillna(0.0)
        lines.append("nominal yields per region and process:")
        lines.append(pivot.to_string(float_format=lambda v: f"{v:10.1f}"))
    lines.append(
        f"processed {summary['events_processed']} events in "
        f"{summary['processing_seconds']:.1f} s ({summary['events_per_second']:.0f} events/s)"
    )
    for key in ("generation_seconds", "total_seconds"):
        if key in summary:
            lines.append(f"{key.replace('_', ' ')}: {summary[key]:.1f}")
    if summary["bad_files"]:
        lines.append("skipped bad files:")
        for b in summary["bad_files"]:
            held = "unknown" if b["events"] is None else b["events"]
            lines.append(f"  {b['path']} ({b['dataset']}): {b['reason']}; events held: {held}")
    lines.extend(format_inputs(summary.get("inputs", {})))
    for path, missing in summary.get("missing_trigger_paths", {}).items():
        lines.append(f"note: {path} lacks trigger paths {missing} (counted as not fired)")
    return "\n".join(lines)


# --- the fit stage's summary (kept apart from the processing summary above) -----------
def format_stages(run_summary: dict[str, Any]) -> str:
    """One line per stage: ran or reused, and its time."""
    parts = [f"{name} {'reused' if st['reused'] else 'ran'} ({st['seconds']:.1f} s)"
             for name, st in run_summary["stages"].items()]
    return f"stages: {', '.join(parts)}; total {run_summary['total_seconds']:.1f} s"


def format_fit_summary(results: dict[str, Any], fit_dir: Path) -> str:
    """μ̂ ± σ (MINOS), significance obs/exp and the CLs limit obs/exp of a fit's results."""
    mu, sigma, minos = results["mu_hat"], results["mu_uncertainty"], results["mu_minos"]
    sig, lim = results["significance"], results["limit"]
    cl = round(100 * lim["confidence_level"])
    if "not_found" in lim:
        limit_line = f"  {cl}% CL upper limit on mu: NOT FOUND - {lim['not_found']}"
    else:
        band = lim["expected_bands"]
        limit_line = (
            f"  {cl}% CL upper limit on mu: observed {lim['observed']:.2f}, expected "
            f"{lim['expected']:.2f} (-1s {band['minus1']:.2f}, +1s {band['plus1']:.2f}; "
            f"-2s {band['minus2']:.2f}, +2s {band['plus2']:.2f})")
    reused = " (reused: inputs and settings unchanged)" if results.get("reused") else ""
    lines = [
        f"fit of {results['region']} ({results['luminosity_fb']:g} fb^-1): {fit_dir}{reused}",
        f"  mu = {mu:.3f} +/- {sigma:.3f}  (MINOS {minos['down']:+.3f} / {minos['up']:+.3f})",
        f"  significance: observed {sig['observed']:.2f} sigma, expected {sig['expected']:.2f}"
        " sigma",
        limit_line,
        f"  goodness of fit (saturated model): p = "
        f"{results['goodness_of_fit']['p_value_saturated']:.3f}",
    ]
    leakage = results.get("model", {}).get("signal_leakage_per_mu", 0.0)
    if leakage:
        lines.append(f"  signal in the ABCD control cells: {leakage:.3g} background events per "
                     "unit mu, modelled (fit.signal_leakage)")
    pruned = results.get("model", {}).get("pruned", [])
    if pruned:
        lines.append(f"  pruned {len(pruned)} modifier(s) below "
                     f"{results['model']['prune_threshold']:g} (listed in results.json)")
    return "\n".join(lines)
