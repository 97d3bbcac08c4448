"""Traceability owns no tables: it walks purchases, dish_ingredients, dishes_served and samples."""
