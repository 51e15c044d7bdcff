"""Outside services behind one Protocol per kind (trends, video, social, llm), each adapter over httpx."""
