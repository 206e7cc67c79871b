package io.volumeclone.operator;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.javaoperatorsdk.operator.api.config.ControllerConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.IndexedResourceCache;
import io.javaoperatorsdk.operator.api.reconciler.RetryInfo;
import io.javaoperatorsdk.operator.api.reconciler.dependent.managed.ManagedWorkflowAndDependentResourceContext;
import io.javaoperatorsdk.operator.processing.dependent.workflow.WorkflowCleanupResult;
import io.javaoperatorsdk.operator.processing.dependent.workflow.WorkflowReconcileResult;
import io.javaoperatorsdk.operator.processing.event.EventSourceRetriever;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.volumeclone.api.v1alpha1.VolumeClone;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.function.Predicate;
import java.util.stream.Stream;

/**
 * A JOSDK {@link Context} answered straight from the API server instead of informer caches, so a
 * test can call the reconciler directly and see exactly what it reads and writes. The agent Pod is
 * found by name, as the Pod informer would find it by owner.
 */
final class TestingContext implements Context<VolumeClone> {

  private final KubernetesClient client;
  private final VolumeClone primary;

  TestingContext(KubernetesClient client, VolumeClone primary) {
    this.client = client;
    this.primary = primary;
  }

  @Override
  public <R> Optional<R> getSecondaryResource(Class<R> type) {
    if (type != Pod.class) {
      return Optional.empty();
    }
    Pod pod =
        client
            .pods()
            .inNamespace(primary.getMetadata().getNamespace())
            .withName(AgentPodFactory.podName(primary.getMetadata().getName()))
            .get();
    return Optional.ofNullable(type.cast(pod));
  }

  /** The Pods the operator's two Pod informers would map to the clone: its agent and cleanup. */
  @Override
  public <R> Set<R> getSecondaryResources(Class<R> type) {
    if (type != Pod.class) {
      return Set.of();
    }
    String name = primary.getMetadata().getName();
    Set<R> found = new HashSet<>();
    for (String podName :
        List.of(AgentPodFactory.podName(name), AgentPodFactory.forgetPodName(name))) {
      Pod pod =
          client.pods().inNamespace(primary.getMetadata().getNamespace()).withName(podName).get();
      if (pod != null) {
        found.add(type.cast(pod));
      }
    }
    return found;
  }

  @Override
  public <R> Optional<R> getSecondaryResource(Class<R> type, String name) {
    return getSecondaryResource(type);
  }

  @Override
  public IndexedResourceCache<VolumeClone> getPrimaryCache() {
    return new IndexedResourceCache<>() {
      private List<VolumeClone> all() {
        return client.resources(VolumeClone.class).inAnyNamespace().list().getItems();
      }

      @Override
      public List<VolumeClone> byIndex(String indexName, String indexKey) {
        throw new UnsupportedOperationException("no indexes in tests");
      }

      @Override
      public Stream<VolumeClone> list(String namespace, Predicate<VolumeClone> predicate) {
        return all().stream()
            .filter(c -> namespace.equals(c.getMetadata().getNamespace()))
            .filter(predicate);
      }

      @Override
      public Optional<VolumeClone> get(ResourceID id) {
        return all().stream().filter(c -> ResourceID.fromResource(c).equals(id)).findFirst();
      }

      @Override
      public Stream<ResourceID> keys() {
        return all().stream().map(ResourceID::fromResource);
      }

      @Override
      public Stream<VolumeClone> list(Predicate<VolumeClone> predicate) {
        return all().stream().filter(predicate);
      }
    };
  }

  @Override
  public KubernetesClient getClient() {
    return client;
  }

  @Override
  public VolumeClone getPrimaryResource() {
    return primary;
  }

  @Override
  public EventSourceRetriever<VolumeClone> eventSourceRetriever() {
    return null;
  }

  @Override
  public Optional<RetryInfo> getRetryInfo() {
    return Optional.empty();
  }

  @Override
  public ControllerConfiguration<VolumeClone> getControllerConfiguration() {
    throw new UnsupportedOperationException();
  }

  /** What the reconciler hands its standalone dependents (the agent Pod's placement). */
  @Override
  public ManagedWorkflowAndDependentResourceContext managedWorkflowAndDependentResourceContext() {
    return values;
  }

  private final ManagedWorkflowAndDependentResourceContext values =
      new ManagedWorkflowAndDependentResourceContext() {
        private final Map<Object, Object> map = new ConcurrentHashMap<>();

        @Override
        public <T> Optional<T> get(Object key, Class<T> expectedType) {
          return Optional.ofNullable(map.get(key)).map(expectedType::cast);
        }

        @Override
        @SuppressWarnings("unchecked")
        public <T> T put(Object key, T value) {
          return (T) map.put(key, value);
        }

        @Override
        public <T> T getMandatory(Object key, Class<T> expectedType) {
          return get(key, expectedType)
              .orElseThrow(() -> new IllegalStateException("nothing in the context for " + key));
        }

        @Override
        public Optional<WorkflowReconcileResult> getWorkflowReconcileResult() {
          return Optional.empty();
        }

        @Override
        public Optional<WorkflowCleanupResult> getWorkflowCleanupResult() {
          return Optional.empty();
        }

        @Override
        public WorkflowReconcileResult reconcileManagedWorkflow() {
          throw new UnsupportedOperationException("no managed workflow");
        }

        @Override
        public WorkflowCleanupResult cleanupManageWorkflow() {
          throw new UnsupportedOperationException("no managed workflow");
        }
      };

  @Override
  public ExecutorService getWorkflowExecutorService() {
    throw new UnsupportedOperationException();
  }

  @Override
  public boolean isNextReconciliationImminent() {
    return false;
  }

  @Override
  public boolean isPrimaryResourceDeleted() {
    return false;
  }

  @Override
  public boolean isPrimaryResourceFinalStateUnknown() {
    return false;
  }
}
