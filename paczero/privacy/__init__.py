"""PAC privacy for zeroth-order training, in pure NumPy/SciPy (no torch).

Modules: `channel` (binary-input Gaussian channel MI and its inverse),
`budget` (per-step schedules, exact spend accounting), `mechanism`
(release functions and PrivacyEngine), `conversions` (MI, DP epsilon and
success-rate bounds) and `ledger` (verification of a run's diagnostics).
"""
