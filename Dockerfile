FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 GATEWAY_DATA_DIR=/data GATEWAY_HOST=0.0.0.0
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gateway ./gateway
RUN pip install --no-cache-dir . && useradd --system --uid 10001 gateway && mkdir /data && chown gateway /data
USER gateway
EXPOSE 8000
CMD ["iot-gateway", "serve"]
