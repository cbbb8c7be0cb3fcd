"""Models for planted sparse vector recovery: spectral (SOS) methods, the baseline, SVH and SVH-Diag."""
