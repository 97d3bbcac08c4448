"""Purchase inspection (进货查验 / 索证索票) and supplier qualifications (供应商资质)."""
