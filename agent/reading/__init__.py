"""Reading a question: the workload facts it states, each with its scope (negated, proposed, or in use)."""
