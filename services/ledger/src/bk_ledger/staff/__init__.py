"""Staff: the roster, health certificates (健康证) and training (培训: question bank, exams, certificates)."""
