#!/usr/bin/env bash
# Stands up the Sluice dev cluster: kind, KEDA, RabbitMQ (management plugin), Jaeger, Prometheus, and
# the orders example installed with charts/sluice-consumer. Needs docker, kind, kubectl and helm.
set -euo pipefail
cd "$(dirname "$0")/.."

CLUSTER=${CLUSTER:-sluice}
RABBITMQ_PASSWORD=${RABBITMQ_PASSWORD:-$(head -c 18 /dev/urandom | base64 | tr -d '/+=')}

kind get clusters | grep -qx "$CLUSTER" || kind create cluster --name "$CLUSTER" --config deploy/kind-cluster.yaml
kubectl config use-context "kind-$CLUSTER"

helm repo add kedacore https://kedacore.github.io/charts >/dev/null
helm repo add prometheus-community https://prometheus-community.github.io/helm-charts >/dev/null
helm repo update >/dev/null
helm upgrade --install keda kedacore/keda --version 2.20.2 --namespace keda --create-namespace \
  -f deploy/keda/values.yaml --wait
helm upgrade --install kube-prometheus-stack prometheus-community/kube-prometheus-stack \
  --namespace monitoring --create-namespace -f deploy/prometheus/values.yaml --wait

# Broker credentials: one Secret for RabbitMQ itself, one with the AMQP URL for the service, one with
# the management URL for KEDA's rabbitmq trigger (and the service's queue-depth gauge).
kubectl create secret generic rabbitmq-admin --from-literal=username=sluice \
  --from-literal=password="$RABBITMQ_PASSWORD" --dry-run=client -o yaml | kubectl apply -f -
kubectl create secret generic orders-rabbitmq \
  --from-literal=url="amqp://sluice:$RABBITMQ_PASSWORD@rabbitmq.default.svc:5672" \
  --from-literal=management-url="http://sluice:$RABBITMQ_PASSWORD@rabbitmq.default.svc:15672" \
  --dry-run=client -o yaml | kubectl apply -f -
kubectl create secret generic rabbitmq-keda \
  --from-literal=host="http://sluice:$RABBITMQ_PASSWORD@rabbitmq.default.svc:15672" \
  --dry-run=client -o yaml | kubectl apply -f -
kubectl apply -f deploy/rabbitmq/rabbitmq.yaml -f deploy/jaeger/jaeger.yaml
kubectl rollout status deployment/rabbitmq --timeout=180s

docker build -f deploy/Dockerfile -t sluice-orders:0.1.0 .
kind load docker-image sluice-orders:0.1.0 --name "$CLUSTER"

npm run build
npx sluice manifests --module examples/orders/dist/sluice-app.js --values-only > deploy/.orders-generated.yaml
helm upgrade --install orders charts/sluice-consumer \
  -f deploy/.orders-generated.yaml -f deploy/orders-values.yaml --wait
echo "orders installed; KEDA scales it from 0. Try: npx sluice status --name orders"
