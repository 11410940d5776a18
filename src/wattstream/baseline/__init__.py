"""Baselines: what each building is expected to use, by hour of the week and temperature.

- `towt`: the time-of-week-and-temperature model (pure numpy): fit, predict, Guideline 14.
- `models`: the versioned model files, as the fit stores them and the job loads them.
- `fit`: the batch fit over the stored windows (Spark), `wattstream baseline`.
"""
