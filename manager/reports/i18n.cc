#include "manager/reports/i18n.h"

#include <algorithm>
#include <vector>

namespace ward::manager::reports {

namespace {

struct Message {
  std::string_view key;
  std::string_view en;
  std::string_view ja;
};

// Sorted by nothing in particular; looked up linearly (a report renders a few hundred strings).
constexpr Message kMessages[] = {
    {"report.summary", "Security summary", "セキュリティ概要レポート"},
    {"report.pci_dss", "PCI DSS v4.0 compliance report", "PCI DSS v4.0 準拠レポート"},
    {"label.tenant", "Tenant", "テナント"},
    {"mail.subject", "Ward: {} for {}, {} to {}", "Ward: {}（{}、{}〜{}）"},
    {"mail.text",
     "The report of {} for {} to {} is attached as a PDF; the message shows it as HTML as well.",
     "{} の {}〜{} のレポートを PDF で添付しました。HTML 版はこのメッセージの本文にあります。"},
    {"label.period", "Period", "対象期間"},
    {"label.generated", "Generated", "作成日時"},
    {"label.total_events", "Events in the period", "期間内のイベント数"},
    {"label.agents", "Agents", "エージェント"},
    {"label.online", "online", "オンライン"},
    {"label.offline", "offline", "オフライン"},
    {"label.none", "None.", "該当なし。"},
    {"label.more_findings", "Showing the newest {} findings.", "最新の {} 件を表示しています。"},
    {"section.by_module", "Events by module and severity", "モジュール別・重大度別のイベント"},
    {"section.per_day", "Events per day", "日別イベント数"},
    {"section.top_hosts", "Most attacked hosts (severity medium or higher)",
     "攻撃の多いホスト（重大度「中」以上）"},
    {"section.top_rules", "Top rules (severity medium or higher)",
     "検知の多いルール（重大度「中」以上）"},
    {"section.malware", "Malware found and what was done", "検出されたマルウェアと対処"},
    {"section.tampering", "Tampering and healing", "改ざんと自動修復"},
    {"section.agents", "Agents: coverage and health", "エージェント：適用範囲と稼働状態"},
    {"section.pci_overview", "Requirements at a glance", "要件の評価一覧"},
    {"section.pci_details", "Requirements in detail", "要件ごとの詳細"},
    {"col.module", "Module", "モジュール"},
    {"col.total", "Total", "合計"},
    {"col.host", "Host", "ホスト"},
    {"col.events", "Events", "イベント数"},
    {"col.rule", "Rule", "ルール"},
    {"col.action", "Action", "対処"},
    {"col.count", "Count", "件数"},
    {"col.time", "Time (UTC)", "日時（UTC）"},
    {"col.path", "File", "ファイル"},
    {"col.signature", "Signature", "シグネチャ"},
    {"col.outcome", "Outcome", "結果"},
    {"col.version", "Version", "バージョン"},
    {"col.state", "State", "状態"},
    {"col.last_seen", "Last seen", "最終接続"},
    {"col.policy", "Policy", "ポリシー"},
    {"col.modules", "Modules", "モジュール"},
    {"col.health", "Health", "稼働状態"},
    {"col.requirement", "Requirement", "要件"},
    {"col.status", "Status", "評価"},
    {"col.hosts_passing", "Hosts passing", "適合ホスト"},
    {"col.reasons", "Why", "理由"},
    {"col.day", "Day", "日付"},
    {"col.section", "Section", "区分"},
    {"col.item", "Item", "項目"},
    {"col.value", "Value", "値"},
    {"col.detail", "Detail", "詳細"},
    {"tamper.changes", "Changes to watched files", "監視対象ファイルの変更"},
    {"tamper.heals", "Files healed (restored from git)", "自動修復されたファイル（git から復元）"},
    {"tamper.persistent", "Persistent tampering", "繰り返される改ざん"},
    {"tamper.unexpected", "Unexpected files", "想定外のファイル"},
    {"tamper.baseline", "Baseline tampered", "ベースラインの改ざん"},
    {"coverage.agents", "{} agents, {} online", "エージェント {} 台（オンライン {} 台）"},
    {"health.ok", "ok", "正常"},
    {"health.degraded", "degraded", "低下"},
    {"health.failed", "failed", "異常"},
    {"health.unknown", "unknown", "不明"},
    {"severity.0", "info", "情報"},
    {"severity.1", "low", "低"},
    {"severity.2", "medium", "中"},
    {"severity.3", "high", "高"},
    {"severity.4", "critical", "重大"},
    {"status.met", "met", "適合"},
    {"status.partly_met", "partly met", "一部適合"},
    {"status.not_met", "not met", "不適合"},
    {"status.not_applicable", "not applicable", "対象外"},
    {"pci.5", "Anti-malware on every host, signatures current, periodic scans (5.2-5.3)",
     "全ホストでのマルウェア対策・最新のシグネチャ・定期スキャン（5.2〜5.3）"},
    {"pci.11", "Change detection on critical files, compared at least weekly (11.5.2)",
     "重要ファイルの変更検知と少なくとも週次の比較（11.5.2）"},
    {"pci.6", "WAF in prevent mode in front of public web applications (6.4.2)",
     "公開 Web アプリケーションの前段で防御モードの WAF（6.4.2）"},
    {"pci.10", "Audit logs kept and reviewed (10.x)", "監査ログの保存とレビュー（10.x）"},
    {"pci.1", "Network security controls: host firewall rules (1.x)",
     "ネットワークセキュリティ制御：ホストファイアウォールのルール（1.x）"},
    {"evidence.antimalware",
     "Checked per host: anti-malware enabled with signature databases, real-time or scheduled "
     "scans (a scan finished in the period), signatures loaded within the last {}, the module "
     "running.",
     "ホストごとに確認：シグネチャ付きでマルウェア対策が有効、リアルタイムまたは定期スキャン（期間"
     "内に"
     "スキャン完了）、直近 {} 以内のシグネチャ読み込み、モジュールの稼働。"},
    {"evidence.integrity",
     "Checked per host: integrity monitoring enabled on /etc and the system binaries, full "
     "comparison at least every {}, the module running.",
     "ホストごとに確認：/etc とシステムのバイナリに対する整合性監視が有効、少なくとも {} "
     "ごとの全体比較、モジュールの稼働。"},
    {"evidence.waf",
     "In scope: hosts whose policy inspects HTTP or heals web content, or that reported IPS "
     "events. Checked: IPS enabled inline (nfqueue) in prevent mode with rules loaded.",
     "対象：HTTP を検査する、または Web コンテンツを自動修復するポリシーのホスト、IPS "
     "イベントを報告したホスト。確認：IPS がインライン（nfqueue）の防御モードで有効でルールが"
     "読み込まれていること。"},
    {"evidence.firewall",
     "Checked per host: the host firewall enabled in prevent mode with inbound connections denied "
     "unless a rule allows them.",
     "ホストごとに確認：ホストファイアウォールが防御モードで有効、ルールで許可されない受信接続を拒"
     "否"
     "していること。"},
    {"evidence.retention",
     "Event retention: {} days (10.5.1 asks for 12 months, 3 immediately "
     "available).",
     "イベントの保存期間：{} 日（10.5.1 は 12 か月、うち 3 か月は即時参照可能を要求）。"},
    {"evidence.alerts_reviewed",
     "High and critical alerts older than a day acknowledged or resolved (10.4.1): {}.",
     "1 日以上前の重大度「高」以上のアラートの確認・解決済み（10.4.1）：{}。"},
    {"evidence.no_agents", "No agent is registered in this tenant.",
     "このテナントに登録されたエージェントがありません。"},
    {"finding.retention_short", "Retention of {} days is shorter than the 3 months required.",
     "保存期間 {} 日は要求される 3 か月より短い。"},
    {"finding.retention_under_year",
     "Retention of {} days: events older than that must be archived elsewhere for 12 months.",
     "保存期間 {} 日：それより古いイベントは 12 か月間別の場所に保管する必要がある。"},
    {"finding.alerts_unreviewed", "{} alerts are still open (not reviewed).",
     "{} 件のアラートが未確認のまま。"},
    {"reason.no_policy", "no policy assigned", "ポリシーが割り当てられていない"},
    {"reason.not_seen_in_period", "not seen in the period (last seen {})",
     "期間内に接続なし（最終接続 {}）"},
    {"reason.offline", "offline since {}", "{} からオフライン"},
    {"reason.module_not_running", "module not running ({})", "モジュールが稼働していない（{}）"},
    {"reason.antimalware_disabled", "anti-malware not enabled in its policy",
     "ポリシーでマルウェア対策が有効になっていない"},
    {"reason.no_signature_databases", "no signature databases configured",
     "シグネチャのデータベースが設定されていない"},
    {"reason.no_periodic_scan", "neither real-time nor scheduled scans configured",
     "リアルタイムスキャンも定期スキャンも設定されていない"},
    {"reason.no_scan_finished", "no scheduled scan finished in the period (every {})",
     "期間内に定期スキャンが完了していない（間隔 {}）"},
    {"reason.signatures_not_current", "signatures not loaded within the last {}",
     "直近 {} 以内にシグネチャが読み込まれていない"},
    {"reason.integrity_disabled", "integrity monitoring not enabled in its policy",
     "ポリシーで整合性監視が有効になっていない"},
    {"reason.critical_paths_not_watched", "critical paths not watched: {}",
     "重要なパスが監視されていない：{}"},
    {"reason.integrity_schedule_off", "scheduled comparison turned off",
     "定期比較が無効になっている"},
    {"reason.integrity_schedule_too_long", "compared only every {}", "比較の間隔が {} と長すぎる"},
    {"reason.waf_disabled", "no IPS/WAF in its policy", "ポリシーに IPS/WAF がない"},
    {"reason.waf_detect_mode", "WAF in detect mode (not blocking)",
     "WAF が検知モード（遮断しない）"},
    {"reason.waf_passive_capture", "WAF captures passively (pcap) and cannot block",
     "WAF がパッシブキャプチャ（pcap）で遮断できない"},
    {"reason.waf_no_rules", "WAF without rules (CRS off, no custom rules)",
     "WAF にルールがない（CRS 無効、カスタムルールなし）"},
    {"reason.firewall_disabled", "host firewall not enabled in its policy",
     "ポリシーでホストファイアウォールが有効になっていない"},
    {"reason.firewall_detect_mode", "host firewall in detect mode (not denying)",
     "ホストファイアウォールが検知モード（拒否しない）"},
    {"reason.firewall_inbound_open", "inbound connections no rule matches are allowed ({})",
     "どのルールにも一致しない受信接続が許可されている（{}）"},
};

}  // namespace

std::string_view Text(Language lang, std::string_view key) {
  for (const auto& m : kMessages) {
    if (m.key == key) return lang == Language::kJa ? m.ja : m.en;
  }
  return key;
}

std::string NoteText(Language lang, const Note& note) {
  return Fill(Text(lang, note.key), {note.arg});
}

std::string Fill(std::string_view tmpl, std::initializer_list<std::string> args) {
  std::string out;
  auto arg = args.begin();
  for (size_t i = 0; i < tmpl.size(); ++i) {
    if (tmpl[i] == '{' && i + 1 < tmpl.size() && tmpl[i + 1] == '}' && arg != args.end()) {
      out += *arg++;
      ++i;
    } else {
      out += tmpl[i];
    }
  }
  return out;
}

std::string_view SeverityText(Language lang, int severity) {
  static constexpr std::string_view kKeys[] = {"severity.0", "severity.1", "severity.2",
                                               "severity.3", "severity.4"};
  return Text(lang, kKeys[std::clamp(severity, 0, 4)]);
}

std::string_view StatusText(Language lang, PciStatus s) {
  switch (s) {
    case PciStatus::kMet:
      return Text(lang, "status.met");
    case PciStatus::kPartlyMet:
      return Text(lang, "status.partly_met");
    case PciStatus::kNotMet:
      return Text(lang, "status.not_met");
    case PciStatus::kNotApplicable:
      return Text(lang, "status.not_applicable");
  }
  return "";
}

std::vector<std::string_view> AllKeys() {
  std::vector<std::string_view> out;
  for (const auto& m : kMessages) out.push_back(m.key);
  return out;
}

}  // namespace ward::manager::reports
