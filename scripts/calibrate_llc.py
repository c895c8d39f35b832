"""Calibrate the LLC lens' SGLD step size ε and localization γ, once per architecture.

For one trained model of each architecture (a finished run's ``results/``), short chains run over a grid of
(ε, γ); the table gives λ̂ (mean over chains), its spread between chains, the warnings and the seconds. A
good setting sits where λ̂ no longer moves with ε (smaller steps only cost draws), where the chains agree,
and where no trace still rises or diverges; γ should be as small as keeps the chains local (a large γ pulls
λ̂ down, towards 0). The chosen values go into the config's ``analysis.llc.by_architecture``, with the
reason in the README.

    python scripts/calibrate_llc.py --results results --models wiki-tied-wd0 wiki-relu wiki-bilinear \
        [--step-sizes 1e-5 3e-5 1e-4 3e-4] [--localizations 100 1000 10000] [--draws 200] [--out results/llc_calibration.tsv]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", default="results")
    ap.add_argument("--models", nargs="+", required=True)
    ap.add_argument("--step-sizes", type=float, nargs="+", default=[1e-5, 3e-5, 1e-4, 3e-4])
    ap.add_argument("--localizations", type=float, nargs="+", default=[100.0, 1000.0, 10000.0])
    ap.add_argument("--draws", type=int, default=200)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=None, help="also write the table here (TSV)")
    args = ap.parse_args()

    from bowsflow.lenses.llc.analysis import LLCOptions, analyze_llc

    res = Path(args.results)
    rows = []
    header = "model\tarch\tstep_size\tlocalization\tllc\tstd_between_chains\tinterval\tseconds\twarnings"
    print(header)
    for model in args.models:
        corpus = json.loads((res / "models" / model / "config.json").read_text())["corpus"]
        for eps in args.step_sizes:
            for gamma in args.localizations:
                options = LLCOptions(
                    step_size=eps,
                    localization=gamma,
                    by_architecture=None,
                    n_chains=args.chains,
                    n_draws=args.draws,
                    n_burnin=args.draws // 4,
                )
                with tempfile.TemporaryDirectory() as tmp:
                    t = time.perf_counter()
                    s, _ = analyze_llc(
                        bows=res / "bows" / corpus / "bows.zarr",
                        checkpoint=res / "models" / model / "model.safetensors",
                        model_config=res / "models" / model / "config.json",
                        store=Path(tmp) / "llc.zarr",
                        options=options,
                        threads=args.threads,
                    )
                    seconds = time.perf_counter() - t
                row = (
                    f"{model}\t{s['arch']}\t{eps:g}\t{gamma:g}\t{s['llc']:.4g}\t{s['llc_std_between_chains']:.3g}\t"
                    f"[{s['interval'][0]:.4g}, {s['interval'][1]:.4g}]\t{seconds:.1f}\t{'; '.join(s['warnings']) or '-'}"
                )
                print(row, flush=True)
                rows.append(row)
    if args.out:
        Path(args.out).write_text(header + "\n" + "\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
