# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # fourtops interactively
#
# Load a fileset, run the processor on a few files, look at histograms, morph the ttbar
# simulation with ABCDnn, refit and plot, all through the package's functions. The sample
# here is tiny (a few thousand generated events, no systematic variations, a two-member
# ABCDnn trained for a few steps) so that the notebook runs in a minute or two; for the real
# thing use the shipped config (`analysis/default_config.yaml`) as it is.

# %%
import os
import tempfile
from pathlib import Path

import cabinetry
import matplotlib.pyplot as plt
import mplhep
import yaml
from IPython.display import display

from analysis.config import default_config_path
from analysis.fit.inputs import load_inputs
from analysis.fit.model import build_workspace
from analysis.fit.results import mle_fit, model_and_data
from workflows.cluster import ClusterSpec
from workflows.fit import input_paths
from workflows.morph import run_morph
from workflows.pipeline import prepare, run_processor
from workflows.report import write_outputs

# the notebook runs from notebooks/ or from the repository root
if Path.cwd().name == "notebooks":
    os.chdir("..")
work = Path(os.environ.get("FOURTOPS_NOTEBOOK_DIR") or tempfile.mkdtemp(prefix="fourtops_"))
# the package draws with the batch backend; figures returned by a cell are shown inline
# %matplotlib inline

# %% [markdown]
# ## A small config and its fileset
# The shipped config, shrunk: fewer generated events, a small luminosity (so few
# pseudo-data events), no systematic variations, a quick ABCDnn and a coarse fit binning.

# %%
config_data = yaml.safe_load(default_config_path().read_text())
config_data["luminosity_fb"] = 0.03
config_data["cache_dir"] = str(work / "cache")
config_data["systematics"] = {"enabled": False}
small = {"tttt": 600, "ttbar": 4000, "ttW": 200, "ttZ": 200, "ttH": 200}
for name, dataset in config_data["datasets"].items():
    dataset["generator"]["n_files"] = 1
    if name in small:
        dataset["generator"]["n_events"] = small[name]
config_data["abcdnn"] = {"ensemble_size": 2, "min_steps": 5, "max_steps": 10,
                         "fit_bins": [0.0, 0.5, 0.8, 1.0]}
config_data["fit"] = {**config_data.get("fit", {}), "ranking": False}
config_path = work / "config.yaml"
config_path.write_text(yaml.safe_dump(config_data))

config, fileset, infos = prepare(config_path, skip_bad_files=False)
{name: len(ds.files) for name, ds in fileset.datasets.items()}

# %% [markdown]
# ## Run the processor
# In this process (the `iterative` executor); `executor="dask"` starts a local cluster.

# %%
result = run_processor(config, fileset, infos, ClusterSpec(executor="iterative", status=False),
                       chunksize=5000)
print(f"{result.events} events in {result.seconds:.1f} s")
hists = result.output["hists"]
sorted(hists)

# %% [markdown]
# ## Histograms
# `hist` objects with region, process and systematic axes.

# %%
mplhep.style.use("CMS")
ht = hists["ht"][{"region": "nj6_nb2", "systematic": "nominal"}]
fig, ax = plt.subplots()
for process in ("ttbar", "tttt", "data"):
    mplhep.histplot(ht[{"process": process}], ax=ax, label=process)
ax.set_yscale("log")
ax.legend()
ax.set_xlabel("HT [GeV]")
display(fig)

# %% [markdown]
# ## Write the outputs, morph with ABCDnn

# %%
outdir = work / "output"
write_outputs(result, config, outdir / "process", plots=False)
morph = run_morph(outdir / "process", outdir, config.abcdnn, plots=False)
sorted(morph.template_paths)

# %% [markdown]
# ## Refit
# The pyhf model of the signal-region cell with the ABCDnn template as background; a
# maximum-likelihood fit (the full stage, `workflows.fit.run_fit_stage`, adds MINOS, the
# significance and the CLs limit).

# %%
s = config.fit
inputs = load_inputs(*input_paths(outdir, s), s.histogram, s.region, s.signal,
                     list(s.minor_backgrounds), s.data)
spec, report = build_workspace(inputs, s)
model, data = model_and_data(spec)
fit = mle_fit(model, data, s)
poi = model.config.poi_index
print(f"mu = {fit.bestfit[poi]:.1f} +- {fit.uncertainty[poi]:.1f}")

# %% [markdown]
# ## Post-fit plot

# %%
postfit = cabinetry.model_utils.prediction(model, fit_results=fit)
figures = cabinetry.visualize.data_mc(postfit, data, save_figure=False, close_figure=False)
display(figures[0]["figure"])
