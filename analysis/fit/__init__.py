"""The statistical analysis: fit inputs and their checks, the pyhf model, fits and results
(cabinetry), figures, and toy studies."""
