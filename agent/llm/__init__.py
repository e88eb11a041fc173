"""Optional LLM path (the only place LangChain is imported): tools and the tool-calling planner."""
