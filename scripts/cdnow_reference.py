#!/usr/bin/env python3
"""Reference values from the `lifetimes` package (0.11.3) for saasql's CLV
functions (crates/saasql/src/functions/clv/), from the CDNOW files in
crates/saasql/tests/data/cdnow/
(copies of the files shipped in lifetimes/datasets; see SOURCE.md there).

Regenerate (from the repository root; lifetimes 0.11.3 predates pandas 2 and
numpy 2, hence the pins):

    python3 -m venv .venv-cdnow
    .venv-cdnow/bin/pip install "lifetimes==0.11.3" "numpy<2" "pandas<2" "scipy<1.13" autograd dill
    .venv-cdnow/bin/python scripts/cdnow_reference.py

Writes, in crates/saasql/tests/data/cdnow/:
  reference.json                fitted parameters + per-customer predictions
  reference_params.csv          the parameters, flat (read by the unit tests)
  reference_customers.csv       the predictions, flat (unit, slt and CLI tests)
  cdnow_rfm_lifetimes.csv       lifetimes' own RFM summary of CDNOW_sample.txt
"""
import json
import os
import sys

import numpy as np
import pandas as pd
import lifetimes
from lifetimes import BetaGeoFitter, GammaGammaFitter
from lifetimes.utils import summary_data_from_transaction_data

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(HERE, "crates", "saasql", "tests", "data", "cdnow")

# ---- BG/NBD on the CDNOW summary (2,357 customers, 39-week calibration) ----
summary = pd.read_csv(os.path.join(DATA, "cdnow_customers_summary.csv"))
bgf = BetaGeoFitter(penalizer_coef=0.0)
bgf.fit(summary["frequency"], summary["recency"], summary["T"])
bg = {k: float(v) for k, v in bgf.params_.items()}
# lifetimes stores the *mean* negative log-likelihood (in scaled time);
# recompute the total log-likelihood in original units for comparison.
r, alpha, a, b = bg["r"], bg["alpha"], bg["a"], bg["b"]
x, tx, T = summary["frequency"].values, summary["recency"].values, summary["T"].values
bg["log_likelihood"] = float(
    -BetaGeoFitter._negative_log_likelihood(
        np.log([r, alpha, a, b]), x, tx, T, np.ones_like(x), 0.0
    )
    * len(x)
)

# ---- Gamma-Gamma on repeat buyers (lifetimes docs use this file) ----
gg_df = pd.read_csv(os.path.join(DATA, "cdnow_customers_summary_with_transactions.csv"))
gg_df.columns = ["customer_id", "frequency", "recency", "T", "monetary_value"]
rep = gg_df[gg_df["frequency"] > 0]
ggf = GammaGammaFitter(penalizer_coef=0.0)
ggf.fit(rep["frequency"], rep["monetary_value"])
gg = {k: float(v) for k, v in ggf.params_.items()}
gg["repeat_buyers"] = int(len(rep))

# BG/NBD fitted on the with_transactions file too (same x, t_x, T as the summary)
bgf2 = BetaGeoFitter(penalizer_coef=0.0)
bgf2.fit(gg_df["frequency"], gg_df["recency"], gg_df["T"])

# ---- Per-customer predictions, using the fitted lifetimes models ----
ids = [1, 2, 18, 150, 1516, 2000]
cases = []
for cid in ids:
    row = gg_df[gg_df["customer_id"] == cid].iloc[0]
    cases.append((f"cdnow_{cid}", float(row.frequency), float(row.recency), float(row["T"]), float(row.monetary_value)))
# synthetic edge cases
cases.append(("high_freq", 30.0, 38.0, 39.0, 50.0))
cases.append(("lapsed", 5.0, 2.0, 39.0, 20.0))

horizons = [1.0, 10.0, 39.0, 52.0]
customers = []
for name, f, rec, t, m in cases:
    F, R, TT, M = (pd.Series([v]) for v in (f, rec, t, m))
    exp = {str(h): float(bgf2.conditional_expected_number_of_purchases_up_to_time(h, F, R, TT).iloc[0]) for h in horizons}
    palive = float(bgf2.conditional_probability_alive(F, R, TT)[0])
    spend = float(ggf.conditional_expected_average_profit(F, M).iloc[0])
    clv12 = float(ggf.customer_lifetime_value(bgf2, F, R, TT, M, time=12, discount_rate=0.01, freq="W").iloc[0])
    clv6 = float(ggf.customer_lifetime_value(bgf2, F, R, TT, M, time=6, discount_rate=0.0, freq="W").iloc[0])
    customers.append(dict(name=name, frequency=f, recency=rec, T=t, monetary=m,
                          expected_purchases=exp, p_alive=palive, expected_spend=spend,
                          clv_12m_1pct_W=clv12, clv_6m_0pct_W=clv6))

# ---- RFM summary from the CDNOW transactions (calibration end 1997-09-30) ----
tx = pd.read_csv(os.path.join(DATA, "CDNOW_sample.txt"), sep=r"\s+", header=None,
                 names=["master_id", "customer_id", "date", "cds", "amount"], dtype={"date": str})
tx["date"] = pd.to_datetime(tx["date"], format="%Y%m%d")
rfm = summary_data_from_transaction_data(
    tx, "customer_id", "date", monetary_value_col="amount",
    observation_period_end="1997-09-30", freq="D", freq_multiplier=7,
)
rfm.reset_index().to_csv(os.path.join(DATA, "cdnow_rfm_lifetimes.csv"), index=False, float_format="%.10g")

# Gamma-Gamma on the *unrounded* repeat-purchase means computed from the
# transactions (the summary file's zbar is rounded to cents). This is the
# data behind Fader & Hardie's note 025 values p=6.25, q=3.74, gamma=15.44,
# LL=-4055.9177.
rep_tx = rfm[rfm["frequency"] > 0]
ggf_tx = GammaGammaFitter(penalizer_coef=0.0).fit(rep_tx["frequency"], rep_tx["monetary_value"])
gg_tx = {k: float(v) for k, v in ggf_tx.params_.items()}
gg_tx["log_likelihood"] = float(
    -GammaGammaFitter._negative_log_likelihood(
        np.log([gg_tx["p"], gg_tx["q"], gg_tx["v"]]), rep_tx["frequency"].values,
        rep_tx["monetary_value"].values, np.ones(len(rep_tx)), 0.0) * len(rep_tx))
gg_tx["repeat_buyers"] = int(len(rep_tx))
gg["log_likelihood"] = float(
    -GammaGammaFitter._negative_log_likelihood(
        np.log([gg["p"], gg["q"], gg["v"]]), rep["frequency"].values,
        rep["monetary_value"].values, np.ones(len(rep)), 0.0) * len(rep))

out = dict(
    lifetimes_version=lifetimes.__version__,
    pandas_version=pd.__version__,
    numpy_version=np.__version__,
    bgnbd_cdnow_summary=bg,
    bgnbd_used_for_predictions={k: float(v) for k, v in bgf2.params_.items()},
    gamma_gamma_repeat_buyers=gg,
    gamma_gamma_repeat_buyers_unrounded_from_transactions=gg_tx,
    horizons=horizons,
    customers=customers,
    clv_convention="lifetimes customer_lifetime_value(freq='W'): factor=4.345 weeks per month",
)
with open(os.path.join(DATA, "reference.json"), "w") as fh:
    json.dump(out, fh, indent=1)
print(json.dumps({k: out[k] for k in ["bgnbd_cdnow_summary", "gamma_gamma_repeat_buyers",
                                      "gamma_gamma_repeat_buyers_unrounded_from_transactions"]}, indent=1))

# ---- Flat CSVs for the Rust unit tests (no JSON parser needed there) ----
with open(os.path.join(DATA, "reference_params.csv"), "w") as fh:
    fh.write("model,param,value\n")
    for k in ["r", "alpha", "a", "b", "log_likelihood"]:
        fh.write(f"bgnbd,{k},{bg[k]!r}\n")
    for k in ["p", "q", "v", "log_likelihood"]:
        fh.write(f"gamma_gamma,{k},{gg[k]!r}\n")
    fh.write(f"gamma_gamma,repeat_buyers,{gg['repeat_buyers']}\n")
    for k in ["p", "q", "v", "log_likelihood"]:
        fh.write(f"gamma_gamma_tx,{k},{gg_tx[k]!r}\n")
with open(os.path.join(DATA, "reference_customers.csv"), "w") as fh:
    cols = ["name", "frequency", "recency", "T", "monetary"] + [f"exp_{int(h)}" for h in horizons] + [
        "p_alive", "expected_spend", "clv_12m_1pct_W", "clv_6m_0pct_W"]
    fh.write(",".join(cols) + "\n")
    for c in customers:
        vals = [c["name"], c["frequency"], c["recency"], c["T"], c["monetary"]] + [
            c["expected_purchases"][str(h)] for h in horizons] + [
            c["p_alive"], c["expected_spend"], c["clv_12m_1pct_W"], c["clv_6m_0pct_W"]]
        fh.write(",".join(v if isinstance(v, str) else repr(float(v)) for v in vals) + "\n")
