"""Food sample retention (留样): ≥ 125 g per dish per meal, kept chilled ≥ 48 h."""
