"""Build-time model conversion (GGUF / HF / ORT GenAI -> the page's format). Never shipped."""
