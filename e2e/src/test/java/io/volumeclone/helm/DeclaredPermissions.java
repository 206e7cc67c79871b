package io.volumeclone.helm;

import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/**
 * What the operator's and the agent's code call on the API server, rule by rule, each with the
 * class and call that needs it. {@link RbacTest} fails when the chart's rendered Roles grant
 * anything else or miss anything here; that keeps the chart least-privilege.
 *
 * <p>This list belongs next to the code it describes (operator and node-agent main code, where a
 * reviewer of a new API call sees it); it lives in the chart's tests until it moves there.
 */
final class DeclaredPermissions {

  /** One rule: API group ("" for core), resource (with /subresource), verbs, and who needs it. */
  record Rule(String apiGroup, String resource, Set<String> verbs, List<String> neededBy) {
    Rule {
      verbs = Set.copyOf(verbs);
    }

    /** group/resource:verb, one per verb, sorted: the unit the comparison works in. */
    Set<String> grants() {
      Set<String> out = new TreeSet<>();
      verbs.forEach(v -> out.add(apiGroup + "/" + resource + ":" + v));
      return out;
    }
  }

  private static final String OPERATOR = "io.volumeclone.operator.";
  private static final String AGENT = "io.volumeclone.agent.";

  /**
   * The operator, in the namespaces it reconciles: the ClusterRole {@code <fullname>-operator},
   * bound cluster-wide without watchNamespaces and by a RoleBinding in each watched namespace with
   * them.
   */
  static final List<Rule> OPERATOR_NAMESPACED =
      List.of(
          new Rule(
              "volumeclone.io",
              "volumeclones",
              Set.of("get", "list", "watch", "patch", "delete"),
              List.of(
                  "JOSDK controller informer for VolumeCloneReconciler: list, watch",
                  "JOSDK finalizer volumeclone.io/stop-agent added/removed by JSON patch"
                      + " (Main: withUseSSAToPatchPrimaryResource(false)): patch, and get to"
                      + " re-read the clone when that patch meets a 409",
                  OPERATOR
                      + "VolumeCloneReconciler.finished: client.resource(clone).delete()"
                      + " after ttlSecondsAfterFinished")),
          new Rule(
              "volumeclone.io",
              "volumeclones/status",
              Set.of("patch"),
              List.of(
                  OPERATOR
                      + "StatusWriter.write: server-side apply as volume-clone-operator,"
                      + " client.resource(body).subresource(\"status\").patch(APPLY)")),
          new Rule(
              "volumeclone.io",
              "volumeclones/finalizers",
              Set.of("update"),
              List.of(
                  OPERATOR
                      + "AgentPodFactory.build: ownerReference with blockOwnerDeletion=true"
                      + " (OwnerReferencesPermissionEnforcement admission)")),
          new Rule(
              "",
              "pods",
              Set.of("get", "list", "watch", "create", "delete"),
              List.of(
                  OPERATOR
                      + "VolumeCloneReconciler.prepareEventSources: Pod informer (list, watch)",
                  OPERATOR + "VolumeCloneReconciler.createPod: pods().resource(pod).create()",
                  OPERATOR + "VolumeCloneReconciler.recreatePod/cleanup: pods().withName().get()",
                  OPERATOR + "VolumeCloneReconciler.cleanup/reconcile: pods()...delete()")),
          new Rule(
              "",
              "persistentvolumeclaims",
              Set.of("get", "patch", "create", "delete"),
              List.of(
                  OPERATOR + "Validator.check: persistentVolumeClaims().withName().get()",
                  OPERATOR + "LegacyClaimFinalizer.removeFrom: get(), patch(JSON)",
                  OPERATOR + "CloneVolumes.reconcile: client.resource(claim).create()",
                  OPERATOR + "CloneVolumes.remove: client.resource(claim).delete()")),
          new Rule(
              "",
              "events",
              Set.of("create"),
              List.of(OPERATOR + "EventRecorder.record: v1().events().resource(event).create()")));

  /** Cluster-scoped objects the operator reads, always cluster-wide ({@code -operator-cluster}). */
  static final List<Rule> OPERATOR_CLUSTER_SCOPED =
      List.of(
          new Rule(
              "",
              "persistentvolumes",
              Set.of("get", "create", "delete"),
              List.of(
                  OPERATOR + "Validator: persistentVolumes().withName(volumeName).get()",
                  OPERATOR + "CloneVolumes.reconcile: client.resource(volume).create()",
                  OPERATOR + "CloneVolumes.remove: client.resource(volume).delete()")),
          new Rule(
              "",
              "nodes",
              Set.of("get", "list"),
              List.of(
                  OPERATOR + "Validator: nodes().withName(node).get()",
                  OPERATOR + "Validator: nodes().withLabel(kubernetes.io/hostname).list()")));

  /** The operator, in the Lease's namespace only (Role), when leader election is on. */
  static final List<Rule> OPERATOR_LEADER_ELECTION =
      List.of(
          new Rule(
              "coordination.k8s.io",
              "leases",
              Set.of("get", "create", "update", "patch"),
              List.of(
                  OPERATOR
                      + "Main.start: LeaderElectionConfiguration -> JOSDK LeaderElectionManager"
                      + " (fabric8 LeaseLock: get, create, and PATCH to renew or take over the"
                      + " Lease, seen forbidden on the real API server; checked at start through"
                      + " a SelfSubjectRulesReview, which every authenticated user may create)")));

  /** The agent, bound in each clone namespace (ClusterRole + RoleBindings). */
  static final List<Rule> AGENT_RULES =
      List.of(
          new Rule(
              "volumeclone.io",
              "volumeclones",
              Set.of("get", "list", "watch"),
              List.of(
                  AGENT + "Agent.run: resources(VolumeClone).withName(name).get()",
                  AGENT
                      + "Agent.run: resources(VolumeClone).withName(name).inform() (list, watch)")),
          new Rule(
              "volumeclone.io",
              "volumeclones/status",
              Set.of("patch"),
              List.of(
                  AGENT
                      + "StatusReporter.write: get, then server-side apply as volume-clone-agent,"
                      + " client.resource(body).subresource(\"status\").patch(APPLY)")));

  static Set<String> grants(List<Rule> rules) {
    Set<String> out = new TreeSet<>();
    rules.forEach(r -> out.addAll(r.grants()));
    return out;
  }

  private DeclaredPermissions() {}
}
