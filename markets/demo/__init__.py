"""A synthetic shop with known ground truth: demo data and the world policies are replayed in.

Customers follow BG/NBD purchase and dropout processes calibrated to CDNOW, with Gamma-Gamma
spend; promotions act on them heterogeneously: immediate lift (negative for some), pull-forward,
discount conditioning, retention and fatigue. The same vectorised weekly step writes the history
and replays any plan against the truth.
"""
