"""City-wide recall (召回): a supplier or one of its batches, traced to every site, dish and sample."""
