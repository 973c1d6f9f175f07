"""The case and its conversation: a student's messages and answers, safety, the
psychologist's side and desk, the pool's cards, floods, hours and deadlines."""
