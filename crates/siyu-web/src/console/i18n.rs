//! Every string the console shows, in 简体中文 and English; templates read them as `t.<key>`.

use siyu_domain::access::{Permission, Role};
use siyu_domain::customers::IdentityKind;
use siyu_domain::customers::consent::{Channel, Purpose};
use siyu_domain::customers::tags::TagFamily;

/// A console language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lang {
    Zh,
    En,
}

impl Lang {
    /// Parses the `siyu_lang` cookie value or the `/lang/{code}` path segment.
    pub(crate) fn parse(code: &str) -> Option<Self> {
        match code {
            "zh" => Some(Self::Zh),
            "en" => Some(Self::En),
            _ => None,
        }
    }

    /// Picks the language from an `Accept-Language` header: the preferred tag decides, `zh*` is Chinese.
    pub(crate) fn from_accept_language(header: &str) -> Self {
        let mut best: Option<(f32, &str)> = None;
        for entry in header.split(',') {
            let mut parts = entry.split(';');
            let tag = parts.next().unwrap_or_default().trim();
            let quality = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if !tag.is_empty() && best.is_none_or(|(q, _)| quality > q) {
                best = Some((quality, tag));
            }
        }
        match best {
            Some((_, tag)) if tag.to_ascii_lowercase().starts_with("zh") => Self::Zh,
            _ => Self::En,
        }
    }

    /// Returns the cookie / path code.
    pub(crate) fn code(self) -> &'static str {
        match self {
            Self::Zh => "zh",
            Self::En => "en",
        }
    }

    /// Returns the BCP 47 tag for `<html lang>`.
    pub(crate) fn html_tag(self) -> &'static str {
        match self {
            Self::Zh => "zh-CN",
            Self::En => "en",
        }
    }

    /// Returns the strings of this language.
    pub(crate) fn text(self) -> &'static Text {
        match self {
            Self::Zh => &ZH,
            Self::En => &EN,
        }
    }
}

/// Declares [`Text`] and its two instances; a key without both translations does not compile.
macro_rules! strings {
    ($($key:ident: $zh:literal, $en:literal;)*) => {
        /// The console's strings in one language.
        pub(crate) struct Text { $(pub(crate) $key: &'static str,)* }
        static ZH: Text = Text { $($key: $zh,)* };
        static EN: Text = Text { $($key: $en,)* };
    };
}

strings! {
    product: "siyu 私域", "siyu 私域";
    lang_code: "zh", "en";
    lang_zh: "中文", "中文";
    lang_en: "English", "English";
    nav_customers: "客户", "Customers";
    nav_tags: "标签", "Tags";
    nav_keys: "API 密钥", "API keys";
    nav_users: "成员", "Users & roles";
    nav_system: "后台任务", "Background work";
    nav_journeys: "自动旅程", "Journeys";
    nav_tasks: "跟进任务", "Follow-ups";
    journeys_title: "自动旅程", "Journeys";
    journeys_note: "旅程由触发条件启动，按等待、分支与动作自动运行；计数为当前所有版本之和。点击旅程查看流程图并编辑，也可通过 API（/api/v1/journeys）创建和发布。", "Journeys start on their trigger and run by themselves through waits, branches and actions; counts cover every version. Open a journey to see its graph and edit it, or create and publish journeys through the API (/api/v1/journeys).";
    journeys_empty: "还没有旅程。", "No journeys yet.";
    col_journey: "旅程", "Journey";
    col_trigger: "触发", "Trigger";
    col_version: "版本", "Version";
    col_in_journey: "进行中", "In progress";
    col_finished: "已完成", "Finished";
    col_converted: "已转化", "Converted";
    col_last_firing: "最近一次定时触发（人数）", "Last scheduled run (entered)";
    journey_draft: "草稿", "Draft";
    journey_active: "进行中", "Active";
    journey_paused: "已暂停", "Paused";
    journey_archived: "已归档", "Archived";
    trigger_event: "事件", "Event";
    trigger_segment_entered: "进入分群", "Enters segment";
    trigger_segment_exited: "离开分群", "Leaves segment";
    trigger_broadcast: "定时群发", "Broadcast to";
    trigger_anniversary: "纪念日", "Anniversary of";
    trigger_api: "API 调用", "API call";
    journey_new: "新建旅程", "New journey";
    journey_graph: "流程图", "Graph";
    journey_graph_note: "每个方框内为该节点的累计人数（所有版本之和）；红框为发布前须修正的节点。点击方框可跳到它的表单。", "Each box shows its node's counts over every version; a red box must be fixed before publishing. Click a box to go to its form.";
    journey_editor: "编辑旅程", "Edit the journey";
    journey_editor_note: "修改后流程图与检查结果即时更新。保存为草稿不影响正在运行的版本；发布后新进入的客户走新版本，已在旅程中的客户按进入时的版本走完。", "The graph and the check follow each change. Saving keeps a draft and leaves the running version alone; once published, new entries take the new version and customers already on the journey finish on theirs.";
    journey_json: "定义（JSON，高级）", "Definition (JSON, advanced)";
    journey_json_note: "直接编辑定义；上方表单随之更新。", "Edit the definition itself; the forms above follow it.";
    journey_save: "保存草稿", "Save draft";
    journey_publish: "保存并发布", "Save and publish";
    journey_pause: "暂停", "Pause";
    journey_resume: "恢复", "Resume";
    journey_archive: "归档", "Archive";
    journey_saved: "草稿已保存。", "Draft saved.";
    journey_published: "已发布为新版本。", "Published as a new version.";
    journey_status_changed: "旅程状态已更新。", "The journey's status changed.";
    journey_problems: "发布前须修正：", "To fix before publishing:";
    journey_no_problems: "检查通过，可以发布。", "No problems: it can be published.";
    journey_readonly: "你的角色可以查看旅程，不能修改。", "Your role may view journeys but not change them.";
    journey_arms: "分流组与转化", "Split arms and conversions";
    journey_entries: "人次", "Entries";
    journey_rate: "转化率", "Conversion rate";
    journey_firings: "定时触发记录", "Scheduled runs";
    journey_occurrence: "触发时间", "Occurrence";
    journey_trigger: "触发条件", "Trigger";
    journey_goal: "目标事件（发生即计为转化并退出旅程）", "Goal event (counted as a conversion; the customer leaves)";
    journey_reentry: "再次进入", "Re-entry";
    reentry_never: "每位客户仅一次", "Once per customer";
    reentry_after_days: "间隔若干天后", "After some days";
    reentry_always: "不在旅程中即可", "Whenever not on it";
    journey_reentry_days: "间隔天数", "Days";
    journey_start: "起始节点", "First node";
    journey_nodes: "节点", "Nodes";
    journey_node: "节点", "Node";
    journey_add_node: "添加节点", "Add node";
    journey_delete_node: "删除节点", "Delete node";
    journey_node_id: "节点标识", "Node id";
    journey_end: "（结束）", "(end)";
    journey_preview_as: "预览所用客户编号", "Preview for customer #";
    journey_preview: "预览", "Preview";
    journey_preview_masked: "个人信息已脱敏", "Personal data masked";
    journey_sms_length: "按短信计 {} 字，分 {} 条发送", "As SMS: {} characters, sent as {} messages";
    journey_no_customer: "填写上方的客户编号即可预览", "Type a customer number above to preview";
    journey_starter_task: "联系新客户，了解需求", "Call the new customer and ask what they need";
    node_wait: "等待时长", "Wait";
    node_wait_until: "等到时刻", "Wait until";
    node_wait_for_event: "等待事件", "Wait for event";
    node_branch: "条件分支", "Branch";
    node_split: "随机分流", "Random split";
    node_send: "发送消息", "Send message";
    node_webhook: "调用网络钩子", "Call webhook";
    node_add_tag: "添加标签", "Add tag";
    node_remove_tag: "移除标签", "Remove tag";
    node_set_trait: "设置属性", "Set trait";
    node_task: "跟进任务", "Follow-up task";
    node_issue_coupon: "发放优惠券", "Issue coupon";
    node_grant_lottery_chance: "赠送抽奖次数", "Grant lottery draws";
    node_exit: "结束", "Exit";
    outlet_next: "下一步", "Next";
    cond_consent: "已同意", "consent on";
    outlet_yes: "是", "Yes";
    outlet_no: "否", "No";
    outlet_happened: "已发生", "Happened";
    outlet_timeout: "超时", "Timed out";
    count_entered: "进入", "entered";
    count_waiting: "等待中", "waiting";
    count_passed: "通过", "passed";
    count_sent: "已发送", "sent";
    count_failed: "失败", "failed";
    count_blocked: "拦截", "blocked";
    count_timed_out: "超时", "timed out";
    count_refused: "未发放", "not given";
    count_dry_run: "演练", "dry run";
    count_delivered: "送达", "delivered";
    count_undelivered: "未送达", "not delivered";
    field_duration: "时长（如 30m、2h、3d、1w）", "Duration (30m, 2h, 3d, 1w)";
    field_time: "时刻（HH:MM）", "Time of day (HH:MM)";
    field_days: "星期（不选即每天）", "Days (none: every day)";
    field_weekdays: "一,二,三,四,五,六,日", "Mon,Tue,Wed,Thu,Fri,Sat,Sun";
    field_event: "事件名", "Event name";
    field_where: "事件属性须等于（JSON 对象）", "Event properties must equal (JSON object)";
    field_timeout: "最长等待（如 2h）", "Longest wait (2h)";
    field_condition: "条件（JSON）", "Condition (JSON)";
    field_condition_note: "如 {\"tag\": \"高价值\"}、{\"segment\": \"分群标识\"}、{\"consent\": \"sms\"}，可用 all、any、not 组合", "e.g. {\"tag\": \"VIP\"}, {\"segment\": \"key\"}, {\"consent\": \"sms\"}, combined with all, any and not";
    field_arm_name: "分组名", "Arm";
    field_arm_percent: "比例（%）", "Share (%)";
    field_arm_add: "添加分组", "Add arm";
    field_arm_control: "不选下一步即为对照组", "An arm without a next node is a hold-out control group";
    field_channel: "渠道", "Channel";
    field_class: "消息类型", "Class";
    field_subject: "主题（邮件）", "Subject (e-mail)";
    field_body: "正文模板", "Text template";
    field_html: "HTML 模板（邮件）", "HTML template (e-mail)";
    field_template: "服务商模板编号", "Provider's template id";
    field_params: "模板参数（JSON 对象，值为模板）", "Template parameters (JSON object of templates)";
    field_data: "附加数据（JSON）", "Data (JSON)";
    field_saved_template: "已存模板", "Saved template";
    field_en_subject: "英文主题（邮件）", "English subject (e-mail)";
    field_en_body: "英文正文模板（客户语言为英文时使用）", "English text template (for customers whose language is English)";
    field_en_html: "英文 HTML 模板（邮件）", "English HTML template (e-mail)";
    nav_templates: "消息模板", "Templates";
    templates_title: "消息模板", "Message templates";
    templates_note: "模板写一次，旅程的发送节点和接口发送按标识选用；类别（营销或通知）由模板决定，客户语言为英文时发送英文版本。", "Write a message once and choose it by name from journeys' send nodes and API sends; the template decides its class (marketing or transactional), and customers whose language is English get its English version.";
    templates_empty: "还没有消息模板。", "No templates yet.";
    template_new: "新建模板", "New template";
    template_name: "标识（a-z、0-9、- 和 _）", "Name (a-z, 0-9, - and _)";
    template_title: "标题", "Title";
    template_class_note: "营销消息需客户同意，受频次上限和免打扰时段约束；通知类消息立即发送。", "Marketing messages need the customer's consent and keep to the frequency cap and quiet hours; transactional ones go at once.";
    template_en_section: "英文版本（可选）", "English version (optional)";
    template_variables: "可用变量：", "Variables:";
    template_preview_language: "预览语言", "Language";
    template_customer_language: "按客户语言", "The customer's";
    template_both_languages: "中文、英文", "Chinese, English";
    template_zh_only: "仅中文", "Chinese only";
    template_saved: "模板已保存", "Template saved";
    template_deleted: "模板已删除", "Template deleted";
    template_delete: "删除模板", "Delete template";
    template_delete_confirm: "删除这个模板？已发布的旅程保留各自的副本。", "Delete this template? Published journeys keep their own copies.";
    col_languages: "语言", "Languages";
    saved_none: "不使用，在此填写内容", "None: write the message here";
    saved_note: "发送已存模板的内容，消息类型以模板为准；发布时复制进该版本，之后修改模板不影响已发布的版本。", "Sends the saved template's text, in the template's class; publishing copies it into the version, so later edits to the template leave published versions as they are.";
    field_hook_event: "调用名称（如 crm.lead）", "Call name (crm.lead)";
    field_tag: "标签", "Tag";
    field_trait_key: "属性名", "Trait key";
    field_trait_value: "属性值（JSON，如 \"金卡\" 或 3）", "Value (JSON: \"gold\" or 3)";
    field_reason: "任务说明", "What the agent is to do";
    field_coupon_template: "优惠券模板", "Coupon template";
    field_lottery: "抽奖活动", "Lottery";
    field_chances: "次数", "Draws";
    field_segment: "分群", "Segment";
    field_at: "一次性时间（RFC 3339）", "Once at (RFC 3339)";
    field_cron: "周期（cron，如 0 10 * * MON）", "Schedule (cron: 0 10 * * MON)";
    field_date_trait: "日期属性（如 birthday）", "Date trait (birthday)";
    tasks_title: "跟进任务", "Follow-ups";
    tasks_note: "旅程为客服创建的跟进任务：联系客户，处理后标记完成。", "Follow-up tasks journeys created for agents: contact the customer, then mark the task done.";
    tasks_empty: "没有待办的跟进任务。", "No open follow-ups.";
    col_customer: "客户", "Customer";
    task_complete: "标记完成", "Mark done";
    task_done: "已标记完成。", "Marked done.";
    nav_messages: "消息记录", "Messages";
    nav_channels: "渠道", "Channels";
    channels_title: "渠道与发送规则", "Channels and sending rules";
    channels_note: "消息经这些渠道发出；发送时按下方规则检查。", "Messages go out through these channels, held to the rules below when they are sent.";
    rules_title: "发送规则", "Sending rules";
    rules_note: "免打扰时段按工作区时区；频次上限按客户与渠道计算营销消息，所有旅程与群发共享。", "Quiet hours are in the workspace's time zone; the cap counts a customer's marketing messages per channel, shared by every journey and broadcast.";
    rules_quiet: "启用免打扰时段（营销消息推迟到时段结束）", "Quiet hours (marketing messages wait until they end)";
    rules_quiet_start: "免打扰开始（HH:MM）", "Quiet from (HH:MM)";
    rules_quiet_end: "免打扰结束（HH:MM）", "Quiet until (HH:MM)";
    rules_cap_max: "频次上限：最多条数", "Cap: at most this many messages";
    rules_cap_days: "频次上限：滚动天数", "Cap: in this many days";
    rules_staff: "员工通知渠道", "Staff channel";
    rules_staff_note: "新的跟进任务与发送失败在此通知员工（群机器人或企业微信应用）。", "New follow-up tasks and failed messages are told to staff here (a group robot or a WeCom application).";
    rules_saved: "发送规则已保存。", "Sending rules saved.";
    staff_none: "不通知", "None";
    channels_list: "已配置的渠道", "Configured channels";
    channels_empty: "还没有配置渠道。", "No channel is configured yet.";
    channels_api_note: "渠道也可通过 API 配置（PUT /api/v1/channels/{name}）。密钥只写不读。", "Channels can also be configured through the API (PUT /api/v1/channels/{name}). Secrets are written, never shown.";
    channel_form_new: "添加渠道", "Add a channel";
    channel_form_edit: "修改渠道", "Change a channel";
    channel_form_note: "保存时会按渠道类型检查设置并试建连接参数；有误时逐项指出，不会保存。各类型的设置见项目文档中的渠道说明（CHANNELS）。", "Saving checks the settings against the kind and sets the adapter up; each problem is named and nothing is saved. Each kind's settings are in docs/CHANNELS.md.";
    channel_name: "渠道名（小写字母、数字、- 与 _）", "Name (a-z, 0-9, - and _)";
    channel_kind: "类型", "Kind";
    channel_settings: "设置", "Settings";
    channel_settings_note: "JSON 对象，如 {\"url\": \"https://crm.example.com/hook\", \"consent_channel\": \"sms\", \"dry_run\": true}", "A JSON object, e.g. {\"url\": \"https://crm.example.com/hook\", \"consent_channel\": \"sms\", \"dry_run\": true}";
    channel_secrets: "密钥（只填所选类型需要的；留空则保留已存的）", "Secrets (only the chosen kind's; a blank one keeps the stored secret)";
    channel_secret_set: "已设置", "set";
    channel_save: "保存渠道", "Save channel";
    channel_edit: "修改", "Change";
    channel_delete: "删除", "Delete";
    channel_saved: "渠道已保存。", "Channel saved.";
    channel_deleted: "渠道已删除。", "Channel deleted.";
    channel_delete_confirm: "删除这个渠道？使用它的旅程将无法发送。", "Delete this channel? Journeys that use it will not send.";
    journey_archive_confirm: "归档这个旅程？旅程中的客户将全部退出，且不能恢复。", "Archive this journey? Everyone on it leaves, and it cannot be resumed.";
    col_secrets: "已设密钥", "Secrets set";
    col_callbacks: "回调", "Callbacks";
    for_staff: "员工", "Staff";
    test_send: "发送测试", "Send test";
    test_to: "收件地址", "Send to";
    test_body: "测试内容", "Test text";
    test_body_default: "测试消息", "Test message";
    test_result: "测试结果", "Test result";
    test_accepted: "服务商已接收", "Accepted by the provider";
    test_rejected: "服务商拒绝", "Refused by the provider";
    test_retry: "暂时失败，可稍后重试", "Failed for now; try again later";
    test_dry_run: "演练模式：未实际发送", "Dry run: nothing was sent";
    test_refused: "无法发送测试", "The test cannot be sent";
    kind_webhook: "网络钩子", "Webhook";
    kind_email: "电子邮件", "E-mail";
    kind_sms: "短信", "SMS";
    kind_wecom: "企业微信群发", "WeCom group send";
    kind_wecom_app: "企业微信应用", "WeCom application";
    kind_wechat_mp: "公众号模板消息", "Official account template";
    kind_wechat_mini: "小程序订阅消息", "Mini-program subscription";
    kind_dingtalk: "钉钉机器人", "DingTalk robot";
    kind_feishu: "飞书机器人", "Feishu robot";
    kind_other: "其他", "Other";
    callback_accepted: "已接受", "accepted";
    callback_repeated: "重复", "repeated";
    callback_verified: "地址验证", "URL checks";
    callback_forged: "伪造", "forged";
    callback_stale: "过期", "stale";
    callback_unreadable: "无法读取", "unreadable";
    callback_unmatched: "回执暂未匹配", "receipts not matched yet";
    messages_title: "消息记录", "Messages";
    messages_note: "每条消息在发送时检查同意、免打扰时段与频次上限；被拦截的注明原因。", "Each message is held to consent, quiet hours and the frequency cap when it is sent; a blocked one says why.";
    messages_empty: "没有符合条件的消息。", "No messages match.";
    messages_all_channels: "全部渠道", "All channels";
    messages_all_statuses: "全部状态", "All statuses";
    messages_filter: "筛选", "Filter";
    col_class: "类型", "Class";
    class_marketing: "营销", "Marketing";
    class_transactional: "通知", "Transactional";
    status_queued: "排队中", "Queued";
    status_sending: "发送中", "Sending";
    status_sent: "已发送", "Sent";
    status_failed: "失败", "Failed";
    status_blocked: "已拦截", "Blocked";
    status_dry_run: "演练", "Dry run";
    status_delivered: "已送达", "Delivered";
    status_undelivered: "未送达", "Not delivered";
    customer_journeys: "参与的旅程", "Journeys";
    customer_messages: "最近的消息", "Latest messages";
    col_node: "所在节点", "At node";
    entry_active: "进行中", "In progress";
    entry_waiting: "等待中", "Waiting";
    entry_done: "已完成", "Finished";
    entry_exited: "已退出", "Left";
    yes_word: "是", "Yes";
    system_title: "后台任务", "Background work";
    system_note: "本进程的后台任务：模型与分群的定时校对等。出错的任务会自动等待后重试（1 秒起，最长 5 分钟）。", "This process's background work, such as the periodic pass over models and segments. A task that fails is retried after a wait (from 1 second up to 5 minutes).";
    system_none: "后台任务未启用（jobs.enabled = false）。", "Background work is off (jobs.enabled = false).";
    col_worker: "任务", "Task";
    col_state: "状态", "State";
    col_runs: "运行轮次", "Rounds";
    col_failures: "连续失败", "Failures in a row";
    col_last_run: "上次运行", "Last run";
    col_next_due: "下次运行", "Next run";
    col_last_error: "最近错误", "Last error";
    worker_models: "模型刷新（超过刷新间隔的模型重新计算）", "Model refresh (models past their refresh interval)";
    worker_segments: "分群全量校对（时间窗口、画像变化、模型）", "Segment pass (time windows, profile changes, models)";
    worker_jobs: "持久化任务", "Durable jobs";
    worker_checkpoint: "数据库日志检查点（每半秒）", "Database log checkpoints (every half second)";
    worker_index_upkeep: "分析索引维护（新事件并入、客户合并、删除后重建）", "Analytics index upkeep (folds, merged customers, rebuilds after erasure)";
    worker_segment_upkeep: "分群实时维护（新事件与画像变化）", "Live segment upkeep (new events and profile changes)";
    worker_segment_record: "分群进出记录（写入事件日志）", "Segment entry and exit records (into the event log)";
    worker_send: "消息发送（同意、免打扰与频次规则，失败重试）", "Message sends (consent, quiet hours and caps; retries)";
    worker_journey_enter: "旅程触发与目标（新事件进入旅程）", "Journey triggers and goals (new events enter journeys)";
    worker_journey_step: "旅程执行（到期的等待与动作）", "Journey steps (due waits and actions)";
    worker_journey_schedule: "定时旅程（群发与纪念日）", "Scheduled journeys (broadcasts and anniversaries)";
    worker_journey_position: "旅程触发位置（崩溃后从事件日志补回）", "Journey trigger position (replayed from the event log after a crash)";
    worker_campaigns: "活动维护（释放超时未付订单、优惠券过期与提醒、保存尝试计数）", "Campaign upkeep (unpaid orders released, coupons expired and reminded, attempt counts saved)";
    worker_coupon_issue: "优惠券批量发放", "Bulk coupon issues";
    worker_starting: "启动中", "Starting";
    worker_working: "运行中", "Working";
    worker_idle: "空闲，等待下次运行", "Idle until the next run";
    worker_backing_off: "出错，等待后重试", "Failed, waiting to retry";
    worker_stopped: "已停止", "Stopped";
    nav_analytics: "分析", "Analytics";
    nav_models: "客户模型", "Models";
    nav_segments: "分群", "Segments";
    models_title: "客户模型", "Customer models";
    models_as_of: "计算于", "Computed as of";
    models_customers: "{} 位客户", "{} customers";
    models_buyers: "{} 位购买客户", "{} buyers";
    models_run: "立即重新计算", "Recompute now";
    lifecycle_title: "生命周期阶段", "Lifecycle stages";
    lifecycle_flows: "近 {} 天阶段流转", "Stage flows over the last {} days";
    flows_before: "{} 天前", "{} days ago";
    flows_days: "{} 天", "{} days";
    flows_now: "现在", "Now";
    flows_unseen: "尚未出现", "Not seen yet";
    tiers_title: "价值分层", "Value tiers";
    rfm_classes: "RFM 八类客户", "The eight RFM classes";
    rfm_heatmap: "R × F 热力图", "R × F heatmap";
    health_title: "健康分分布", "Health score distribution";
    health_mean: "平均健康分 {}", "Mean health {}";
    recall_title: "召回名单", "Recall list";
    recall_count: "{} 位客户超过 {} 天未互动", "{} customers without interaction for {} days";
    recall_since: "预警日期", "Warned since";
    last_active: "最近互动", "Last interaction";
    col_health: "健康分", "Health";
    col_stage: "阶段", "Stage";
    col_tier: "层级", "Tier";
    col_orders: "订单数", "Orders";
    ltv_title: "LTV 预测分布", "Predicted LTV";
    ltv_note: "BG/NBD + Gamma-Gamma，未来 {} 天；按预测价值十等分，每组平均值", "BG/NBD + Gamma-Gamma over the next {} days; mean predicted value per tenth of buyers";
    ltv_total: "预测总价值 {}", "Predicted value in all {}";
    ltv_unavailable: "LTV 暂不可用：{}", "LTV unavailable: {}";
    ltv_computing: "LTV 模型正在后台拟合，稍后刷新本页即可看到。", "The LTV model is being fitted in the background; reload this page shortly.";
    ltv_refitting: "新的拟合正在后台计算", "a newer fit is being computed in the background";
    ltv_at_bound: "LTV 模型拟合未收敛：参数 {} 趋向取值范围的边界（数据中看不出模型可归于它的差异），因此不作预测。", "The LTV fit did not converge: parameter {} runs to the edge of its range (the data show no spread the model can ascribe to it), so nothing is predicted.";
    ltv_budget_spent: "LTV 模型拟合在计算预算内未收敛，因此不作预测。", "The LTV fit did not converge within its work budget, so nothing is predicted.";
    models_refreshing: "模型正在后台重新计算，当前显示的是上一次的结果。", "The models are being recomputed in the background; these are the last computed ones.";
    decile_n: "第 {} 组", "Tenth {}";
    segments_title: "分群", "Segments";
    segments_empty: "还没有分群。", "No segments yet.";
    segment_new: "新建分群", "New segment";
    segment_key: "标识", "Key";
    segment_definition: "条件", "Definition";
    segment_size: "人数", "Size";
    segment_trend: "趋势", "Trend";
    segment_trend_pending: "记录满两天后显示", "Shown once two days are recorded";
    segment_save: "保存分群", "Save segment";
    segment_live: "实时人数", "Live size";
    segment_members: "成员", "Members";
    segment_history: "每日人数", "Daily size";
    segment_builder: "条件构建器", "Condition builder";
    segment_text_label: "分群语言", "Segment language";
    segment_add: "添加条件", "Add condition";
    segment_match_all: "满足全部条件", "Match all";
    segment_match_any: "满足任一条件", "Match any";
    segment_add_group: "添加分组", "Add group";
    segment_not: "不满足", "not";
    segment_advanced: "该定义含构建器无法显示的条件（如求和、区间、属性筛选），请在文本中编辑。", "This definition has conditions the builder cannot show (sums, date ranges, property filters): edit it as text.";
    example_label: "例：", "e.g. ";
    segment_help: "tag(\"高频复购\") and trait.city = \"上海\" and did(\"Order Completed\", count >= 2, within 30d)", "tag(\"高频复购\") and trait.city = \"上海\" and did(\"Order Completed\", count >= 2, within 30d)";
    seg_kind_tag: "标签", "Tag";
    seg_kind_trait: "属性", "Trait";
    seg_kind_did: "做过", "Did";
    seg_kind_not_did: "没做过", "Did not";
    seg_kind_lifecycle: "生命周期阶段", "Lifecycle stage";
    seg_kind_tier: "价值分层", "Value tier";
    seg_kind_rfm: "RFM 分类", "RFM class";
    seg_kind_health: "健康分", "Health score";
    seg_kind_consent: "授权同意", "Consent";
    seg_kind_identity: "拥有身份标识", "Has identity";
    seg_kind_segment: "属于分群", "In segment";
    seg_ph_tag: "标签名", "Tag name";
    seg_ph_trait: "属性名，如“city”", "Trait name, e.g. “city”";
    seg_ph_value: "值", "Value";
    seg_ph_event: "事件名，如“Order Completed”", "Event name, e.g. “Order Completed”";
    seg_ph_count: "次数（可选）", "Count (optional)";
    seg_ph_window: "时间窗（可选），如 30d", "Window (optional), e.g. 30d";
    seg_ph_segment: "分群标识", "Segment key";
    seg_ph_health: "0–100", "0–100";
    seg_remove: "删除", "Remove";
    members_export: "导出 CSV", "Export CSV";
    recall_all: "查看全部客户并导出 →", "See every customer and export →";
    members_count: "共 {} 位成员", "{} members";
    customers_found: "找到 {} 位客户（共 {} 位）", "{} customers found ({} in total)";
    author_key: "API 密钥 {}…", "API key {}…";
    author_cli: "命令行", "Command line";
    author_system: "siyu 系统", "siyu";
    models_panel: "客户模型", "Models";
    models_none: "该客户还没有行为数据。", "This customer has no behaviour yet.";
    churn_risk: "流失风险", "Churn risk";
    p_alive: "存活概率", "Probability alive";
    expected_value: "预测价值", "Predicted value";
    rfm_scores: "RFM 评分", "RFM scores";
    models_settings: "模型阈值", "Model thresholds";
    models_settings_note: "修改后模型立即按新阈值重新计算。天数为 1–10000；沉默天数须小于流失天数。", "Models are recomputed with new thresholds at once. Days run from 1 to 10000; dormant days must be fewer than churned days.";
    set_new_days: "导入期天数（首次出现后）", "Days a new customer stays new";
    set_dormant_days: "休眠：未互动天数", "Dormant after days without interaction";
    set_churned_days: "流失：未互动天数", "Churned after days without interaction";
    set_mature_orders: "成熟期：订单数", "Orders that make a customer mature";
    set_vip_min_orders: "VIP：最少订单数", "VIP: at least this many orders";
    set_vip_min_aov: "VIP：最低客单价（空=中位数）", "VIP: minimum order value (empty = median)";
    set_potential_days: "潜力客户：统计天数", "Potential: days counted";
    set_potential_min_events: "潜力客户：最少互动数", "Potential: interactions at least";
    set_churn_days: "流失预警：未互动天数", "Churn warning after days without interaction";
    set_rfm_high_score: "RFM 高分线（空=均值以上）", "RFM high from score (empty = above the mean)";
    set_health_recency_days: "健康分：近度天数", "Health: recency days";
    set_health_trend_days: "健康分：趋势窗口天数", "Health: trend window days";
    set_ltv_horizon_days: "LTV 预测天数", "LTV horizon, days";
    set_refresh_minutes: "重新计算间隔（分钟）", "Recompute every (minutes)";
    set_edges_recency: "RFM 固定分档：最近购买天数（4 个递增值，逗号分隔；三项皆空=五分位）", "RFM fixed edges: days since last order (4 ascending values, comma-separated; all three empty = quintiles)";
    set_edges_frequency: "RFM 固定分档：订单数（4 个递增值）", "RFM fixed edges: orders (4 ascending values)";
    set_edges_monetary: "RFM 固定分档：消费金额（4 个递增值）", "RFM fixed edges: revenue (4 ascending values)";
    set_passive_events: "被动事件（品牌发出，不算互动；逗号分隔）", "Passive events (made by the brand, not interactions; comma-separated)";
    set_message_received_events: "消息送达事件（逗号分隔）", "Message received events (comma-separated)";
    set_message_engaged_events: "消息互动事件（逗号分隔）", "Message engaged events (comma-separated)";
    save: "保存", "Save";
    workspace: "工作空间", "Workspace";
    switch_workspace: "切换", "Switch";
    logout: "退出登录", "Log out";
    login_title: "登录", "Log in";
    login_subtitle: "私域运营平台", "Private-domain operations platform";
    email: "邮箱", "E-mail";
    password: "密码", "Password";
    login_submit: "登录", "Log in";
    login_wrong: "邮箱或密码错误。", "Wrong e-mail or password.";
    login_locked: "登录失败次数过多，账户已锁定至 {}。", "Too many failed logins: the account is locked until {}.";
    login_no_workspace: "该账户尚未加入任何工作空间。", "This account belongs to no workspace.";
    error_forbidden_title: "无权访问", "Access denied";
    error_forbidden_body: "你的角色没有此操作所需的权限（{}）。", "Your role lacks the permission this needs ({}).";
    error_csrf: "表单已过期或并非来自本站，请刷新页面后重试。", "The form has expired or did not come from this site. Reload the page and try again.";
    error_not_found_title: "未找到", "Not found";
    error_not_found_body: "你要找的内容不存在，或不属于当前工作空间。", "What you are looking for does not exist or is not in this workspace.";
    no_order_data_title: "暂无订单数据", "No order data";
    no_order_data_body: "本工作空间还没有任何“Order Completed”订单事件，RFM 与 LTV 模型无数据可算。", "No customer of this workspace has an \"Order Completed\" event yet, so RFM and LTV have nothing to score.";
    error_internal_title: "出错了", "Something went wrong";
    error_internal_body: "服务器内部错误，请稍后再试。", "An internal error occurred. Please try again later.";
    error_bad_request_title: "请求无效", "Bad request";
    error_bad_request_body: "无法读取提交的表单。", "The submitted form could not be read.";
    error_conflict: "已存在同名记录", "A record with this name already exists";
    form_errors: "请更正以下问题：", "Please correct the following:";
    back: "返回客户列表", "Back to customers";
    none: "暂无", "None yet";
    never: "从未", "Never";
    masked: "已脱敏", "masked";
    create: "创建", "Create";
    name: "名称", "Name";
    time_zone_note: "时间按工作空间时区显示：", "Times are shown in the workspace time zone:";
    customers_title: "客户", "Customers";
    customers_total: "共 {} 位客户", "{} customers in total";
    search_label: "搜索客户", "Search customers";
    search_placeholder: "手机号、邮箱或任意身份标识（精确匹配）", "Phone, e-mail or any identity value (exact match)";
    search_submit: "搜索", "Search";
    filter_tags: "按标签筛选（须全部满足）", "Filter by tags (all must match)";
    filter_trait: "按属性筛选", "Filter by trait";
    trait_placeholder: "属性名=值，如“city=上海”", "name=value, e.g. “city=上海”";
    clear_filters: "清除筛选", "Clear filters";
    col_id: "ID", "ID";
    col_name: "姓名", "Name";
    col_phone: "手机号", "Phone";
    col_email: "邮箱", "E-mail";
    col_city: "城市", "City";
    col_tags: "标签", "Tags";
    col_created: "创建时间", "Created";
    col_updated: "更新时间", "Updated";
    col_type: "类型", "Type";
    col_value: "值", "Value";
    col_source: "来源", "Source";
    col_key: "属性", "Trait";
    col_purpose: "目的", "Purpose";
    col_channel: "渠道", "Channel";
    col_policy: "隐私政策版本", "Policy version";
    col_time: "时间", "Time";
    col_survivor: "保留档案", "Kept profile";
    col_merged: "被合并档案", "Merged profile";
    col_reason: "原因", "Reason";
    col_family: "类别", "Family";
    col_group: "标签组", "Group";
    col_customers: "客户数", "Customers";
    col_kind: "类型", "Kind";
    col_role: "角色", "Role";
    col_prefix: "前缀", "Prefix";
    col_last_used: "最近使用", "Last used";
    col_status: "状态", "Status";
    col_user: "成员", "User";
    col_permission: "权限", "Permission";
    no_customers: "没有符合条件的客户。", "No customers match.";
    next_page: "下一页 →", "Next page →";
    first_page: "← 第一页", "← First page";
    customer_heading: "客户档案", "Customer profile";
    identities: "身份标识", "Identities";
    traits: "属性", "Traits";
    tags: "标签", "Tags";
    consent: "授权同意", "Consent";
    consent_current: "当前状态", "Current state";
    consent_history: "变更历史", "History";
    notes: "备注", "Notes";
    merges: "合并记录", "Merge history";
    granted: "已同意", "Granted";
    withdrawn: "已撤回", "Withdrawn";
    add_note: "添加备注", "Add note";
    note_label: "备注内容", "Note";
    note_placeholder: "记录与客户的沟通情况…", "Write down what happened with this customer…";
    note_added: "备注已添加。", "Note added.";
    personal_data: "个人信息权利", "Personal data rights";
    personal_data_help: "客户可依《个人信息保护法》查阅、复制其个人信息，或要求删除。导出与删除都会记入审计日志。", "Under PIPL a customer may obtain a copy of their personal data or have it deleted. Exports and erasures are written to the audit log.";
    export_personal_data: "导出个人信息（JSON）", "Export personal data (JSON)";
    erase_customer: "删除该客户（被遗忘权）", "Erase this customer";
    erase_confirm: "我确认删除该客户的全部个人信息，此操作不可撤销", "I confirm: erase all of this customer's personal data; this cannot be undone";
    erase_confirm_missing: "请先勾选确认框", "tick the confirmation first";
    customer_erased: "客户已删除，其事件中的个人信息已无法读取。", "Customer erased; the personal data in their events can no longer be read.";
    tags_title: "标签体系", "Tag system";
    tag_groups: "标签组", "Tag groups";
    new_group: "新建标签组", "New tag group";
    new_tag: "新建标签", "New tag";
    group_created: "标签组已创建。", "Tag group created.";
    tag_created: "标签已创建。", "Tag created.";
    no_groups: "还没有标签组，先创建一个吧。", "No tag groups yet: create one first.";
    analytics_funnel: "漏斗", "Funnel";
    analytics_retention: "留存", "Retention";
    analytics_rfm: "RFM", "RFM";
    analytics_tabs: "分析类型", "Analysis";
    analytics_run: "查询", "Run";
    analytics_no_events: "当前工作空间还没有行为事件。可用 siyu import events 导入历史事件，或通过事件上报 API 发送。", "This workspace has no events yet. Import history with siyu import events, or send events to the tracking API.";
    analytics_unindexed: "有 {} 条事件因事件名超过 65,536 种而未计入。", "{} events are left out because the workspace has more than 65,536 event names.";
    analytics_chart_note: "图表需要 JavaScript；表格列出了同样的数字。", "The chart needs JavaScript; the table lists the same numbers.";
    known_events: "已有事件：", "Known events:";
    known_properties: "已有属性：", "Known properties:";
    filters_label: "属性筛选（每行一个，如“category = 果茶”“price >= 100”“channel in 企业微信,短信”）", "Property filters (one per line, e.g. category = shoes, price >= 100, channel in wecom,sms)";
    funnel_filters_label: "属性筛选（每行一个；以步骤号开头只筛该步，如“2: category = 果茶”）", "Property filters (one per line; start with a step number to filter that step only, e.g. 2: category = shoes)";
    breakdown_label: "按属性拆分", "Break down by property";
    measure_label: "求和与平均的数值属性", "Numeric property to sum and average";
    none_value: "（无）", "(none)";
    col_sum: "合计", "Sum";
    breakdown_title: "按 {} 拆分", "By {}";
    attribution_label: "取值来自", "Value from";
    attribution_first: "第 1 步的事件（首次触达）", "Step 1's event (first touch)";
    attribution_last: "到达的最后一步的事件", "The last step reached";
    attribution_step: "第 {} 步的事件：“{}”", "Step {}'s event: “{}”";
    attribution_note_first: "每位客户按其第 1 步事件的 {} 取值归组。", "Each customer is grouped by the {} of their step-1 event.";
    attribution_note_last: "每位客户按其到达的最后一步事件的 {} 取值归组。", "Each customer is grouped by the {} of the event of the last step they reached.";
    attribution_note_step: "每位客户按其第 {} 步事件的 {} 取值归组；未到达这一步的客户计入（无）。", "Each customer is grouped by their step-{} event's {}; customers who did not reach that step count under (none).";
    more_groups: "另有 {} 个取值未列出。", "{} more values are not shown.";
    any_event: "任意客户行为（不含被动事件）", "Any customer action (passive events excluded)";
    funnel_title: "漏斗分析", "Funnel analysis";
    funnel_steps: "步骤（事件名，按顺序用英文逗号分隔）", "Steps (event names in order, comma-separated)";
    funnel_steps_placeholder: "如“Signed Up,Product Added,Order Completed”", "e.g. Signed Up,Product Added,Order Completed";
    funnel_window: "转化窗口（从第一步算起）", "Conversion window (from the first step)";
    funnel_hint: "请输入至少两个步骤。", "Enter at least two steps.";
    funnel_chart: "漏斗图", "Funnel chart";
    window_one_day: "1 天", "1 day";
    window_days: "{} 天", "{} days";
    col_step: "步骤", "Step";
    col_event: "事件", "Event";
    col_overall_conversion: "总体转化率", "Overall conversion";
    col_step_conversion: "步骤转化率", "Step conversion";
    col_median_time: "转化时间中位数", "Median time to convert";
    step_n: "第 {} 步", "Step {}";
    unit_day: "天", "d";
    unit_hour: "小时", "h";
    unit_minute: "分钟", "min";
    unit_second: "秒", "s";
    retention_title: "留存分析", "Retention analysis";
    retention_period: "周期", "Period";
    period_day: "按天", "By day";
    period_week: "按周（周一开始）", "By week (from Monday)";
    period_month: "按月", "By month";
    period_n_day: "第 {} 天", "Day {}";
    period_n_week: "第 {} 周", "Week {}";
    period_n_month: "第 {} 月", "Month {}";
    cohort_event: "入组事件", "Cohort event";
    return_event: "回访事件", "Return event";
    retention_note: "按工作空间时区（{}）分桶；第 0 期即同期群本身，百分比为同期群中仍有行为的客户占比。", "Buckets are in the workspace time zone ({}); period 0 is the cohort itself, and each percentage is the share of the cohort active in that period.";
    retention_rate: "留存率", "Retention rate";
    retention_chart: "留存热力图", "Retention heatmap";
    col_cohort: "同期群", "Cohort";
    col_cohort_size: "人数", "Size";
    rfm_title: "RFM 分析", "RFM analysis";
    rfm_customers: "有订单的客户：{} 位", "Customers with orders: {}";
    rfm_as_of: "最近度计算截至", "Recency measured to";
    rfm_note: "R、F、M 各按五分位打分，5 为最好（最近、最频繁、金额最高）。", "R, F and M are each scored by quintile, 5 being best (most recent, most frequent, highest spend).";
    rfm_grid: "R × F 客户分布（M 合计）", "Customers by R × F (all M)";
    rfm_cells: "全部评分组合", "Every score combination";
    rfm_chart: "RFM 热力图", "RFM heatmap";
    rfm_no_orders: "还没有 Order Completed 事件，暂无可评分的客户。", "There are no Order Completed events yet, so no customer can be scored.";
    rfm_axis_r: "R 最近度", "R recency";
    rfm_axis_f: "F 频次", "F frequency";
    rfm_axis_m: "M 金额", "M monetary";
    total: "合计", "Total";
    analytics_segmentation: "事件", "Events";
    analytics_paths: "路径", "Paths";
    segmentation_title: "事件分析", "Event segmentation";
    segmentation_events: "事件（事件名用英文逗号分隔，最多 20 个）", "Events (names, comma-separated, up to 20)";
    segmentation_placeholder: "如“Product Viewed,Order Completed”", "e.g. Product Viewed,Order Completed";
    segmentation_hint: "请输入至少一个事件。", "Enter at least one event.";
    segmentation_note: "日期留空即从数据的第一天到最后一天；按工作空间时区（{}）分桶，每周从周一开始。", "Leave the dates blank to cover the data's first to last day; buckets are in the workspace time zone ({}), weeks start on Monday.";
    segmentation_chart: "趋势图", "Trend";
    segmentation_measure: "图表指标", "Chart measure";
    date_from: "开始日期", "From";
    date_to: "结束日期", "To";
    measure_counts: "次数", "Count";
    measure_customers: "客户数（去重）", "Distinct customers";
    col_bucket: "周期起始日", "Period start";
    col_count: "次数", "Count";
    col_revenue: "金额", "Revenue";
    event_n: "第 {} 个事件", "Event {}";
    paths_title: "路径分析", "Path analysis";
    paths_event: "起点事件", "Anchor event";
    paths_direction: "方向", "Direction";
    paths_depth: "步数", "Steps";
    direction_next: "之后做了什么", "What customers did next";
    direction_previous: "之前做了什么", "What customers did before";
    paths_customers: "做过「{}」的客户：{} 位", "Customers who did “{}”: {}";
    paths_chart: "路径桑基图", "Sankey diagram";
    paths_chart_note: "每位客户从第一次（向前看则为最后一次）做起点事件算起；图中每一步只保留客户最多的 {} 条流向，下表列出全部流向。", "Each customer counts from their first occurrence of the anchor event (their last, looking back); the chart keeps the {} largest flows of each step, the table lists them all.";
    paths_table_cut: "每一步只列出客户最多的 {} 条流向。", "Only the {} largest flows of each step are listed.";
    paths_none: "做过该事件的客户在这个方向上没有其他事件。", "The customers who did this event did nothing else in this direction.";
    col_next_event: "下一个事件", "Next event";
    col_previous_event: "上一个事件", "Previous event";
    col_share: "占起点客户", "Share of anchor customers";
    nav_home: "概览", "Overview";
    home_title: "经营概览", "Overview";
    home_as_of: "{} 的数据（最近一个有客户活动的完整日）", "Figures for {}, the last complete day with customer activity";
    home_as_of_day: "{} 的数据", "Figures for {}";
    home_as_of_partial: "{} 的数据（今天，截至此刻，尚未结束）", "Figures for {}: today so far, the day is not over";
    home_day_latest: "最近完整日", "Last complete day";
    home_day_today: "今天（截至此刻）", "Today so far";
    home_day_pick: "指定日期", "Day";
    home_day_go: "查看", "Show";
    home_partial_note: "虚线部分是尚未结束的今天。", "The dashed part is today, which is not over yet.";
    home_more: "更多分析 →", "More analysis →";
    home_chart_note: "图表需要 JavaScript。", "The chart needs JavaScript.";
    kpi_dau: "日活跃客户", "Daily active customers";
    kpi_wau: "7 日活跃客户", "Active in 7 days";
    kpi_mau: "30 日活跃客户", "Active in 30 days";
    kpi_gmv: "GMV（30 天）", "GMV (30 days)";
    kpi_orders: "订单数（30 天）", "Orders (30 days)";
    kpi_new_1d: "当日新客户", "New customers (day)";
    kpi_new_7d: "7 日新客户", "New customers (7 days)";
    kpi_new_30d: "30 日新客户", "New customers (30 days)";
    kpi_arpu: "ARPU（30 天）", "ARPU (30 days)";
    kpi_repurchase: "复购率", "Repurchase rate";
    kpi_retention_d1: "次日留存", "Day-1 retention";
    kpi_retention_d7: "7 日留存", "Day-7 retention";
    kpi_retention_d30: "30 日留存", "Day-30 retention";
    kpi_open_rate: "消息打开率（30 天）", "Message open rate (30 days)";
    kpi_coupon_rate: "优惠券核销率（30 天）", "Coupon redemption (30 days)";
    kpi_hint_arpu: "30 天 GMV ÷ 30 日活跃客户", "30-day GMV per customer active in 30 days";
    kpi_hint_repurchase: "下单客户中至少下过两单的占比", "Share of buyers with two or more orders";
    kpi_hint_retention: "{}前的新客户中当日仍活跃的占比", "Share of the customers new {} earlier who were active on the day";
    kpi_hint_open_rate: "Message Opened ÷ Message Sent（或 Message Delivered）", "Message Opened per Message Sent (or Message Delivered)";
    kpi_hint_coupon_rate: "Coupon Applied ÷ Coupon Issued（或 Coupon Entered）", "Coupon Applied per Coupon Issued (or Coupon Entered)";
    kpi_none_cohort: "{}前没有新客户，无从计算", "No customers were new {} earlier";
    kpi_none_buyers: "还没有 Order Completed 事件", "No Order Completed events yet";
    kpi_none_active: "30 天内没有活跃客户", "No customers active in the 30 days";
    kpi_none_messages: "30 天内没有 Message Sent 或 Message Delivered 事件", "No Message Sent or Message Delivered events in the 30 days";
    kpi_none_coupons: "30 天内没有 Coupon Issued 或 Coupon Entered 事件", "No Coupon Issued or Coupon Entered events in the 30 days";
    home_activity_chart: "每日活跃客户与订单（近 30 天）", "Active customers and orders per day (last 30 days)";
    home_gmv_chart: "每日 GMV（近 30 天）", "GMV per day (last 30 days)";
    home_orders_series: "订单数", "Orders";
    home_gmv_series: "GMV", "GMV";
    home_active_note: "每日活跃客户与上方「日活跃客户」卡片同口径：只计客户自己的行为，不计系统记录或品牌发出的被动事件（如进入分群、消息发送；在模型设置中调整）。", "Daily active customers are counted as the card above counts them: customers' own actions, not the passive events siyu records or the brand sends (segment entries, messages sent; set in the model settings).";
    home_no_orders: "还没有 Order Completed 事件，因此没有订单与 GMV 走势。", "There are no Order Completed events yet, so there is no order or GMV trend.";
    home_empty_title: "还没有行为事件", "No events yet";
    home_empty_body: "工作空间收到行为事件后，这里会显示日活、新客、留存、复购、GMV 等指标和走势。发送事件有两种方式：", "Once the workspace receives events, this page shows active customers, new customers, retention, repurchases, GMV and their trends. There are two ways to send events:";
    home_empty_api: "实时上报：用写入密钥（write key）调用兼容 Segment 的事件上报 API，例如 POST /v1/batch：", "Live: send them to the Segment-compatible Tracking API with a write key, e.g. POST /v1/batch:";
    home_empty_key: "写入密钥在「API 密钥」页创建。", "Create a write key on the API keys page.";
    home_empty_key_owner: "写入密钥由工作空间所有者在「API 密钥」页创建。", "The workspace owner creates write keys on the API keys page.";
    home_empty_import: "导入历史：用命令行导入 Parquet、CSV 或 NDJSON 文件：", "History: import a Parquet, CSV or NDJSON file from the command line:";
    keys_title: "API 密钥", "API keys";
    new_key: "新建密钥", "New key";
    kind_secret: "管理密钥（secret）", "Secret (admin API)";
    kind_write: "写入密钥（write，事件上报）", "Write (event ingestion)";
    key_created: "密钥已创建", "Key created";
    key_once_warning: "请立即复制并妥善保存此密钥：它只显示这一次，之后无法再次查看。", "Copy this key now and keep it safe: it is shown only this once and cannot be retrieved later.";
    copy: "复制", "Copy";
    copied: "已复制", "Copied";
    revoke: "吊销", "Revoke";
    revoke_confirm: "确定吊销此密钥？吊销后立即失效。", "Revoke this key? It stops working at once.";
    key_revoked: "密钥已吊销。", "Key revoked.";
    key_active: "有效", "Active";
    key_revoked_at: "已吊销于", "Revoked";
    no_keys: "还没有 API 密钥。", "No API keys yet.";
    users_title: "成员与角色", "Users & roles";
    add_user: "邀请成员", "Invite user";
    user_added: "邀请已创建。", "Invitation created.";
    invite_link_title: "邀请链接", "Invitation link";
    invite_link_warning: "请只把此链接发给受邀人本人：它只显示这一次，7 天内有效，且只能使用一次。受邀人用自己的密码登录（或为新账户设置自己的密码）后接受邀请。", "Send this link to the invitee only: it is shown only this once, works for 7 days and only once. The invitee accepts it with their own password (or sets their own password for a new account).";
    pending_invitations: "待接受的邀请", "Pending invitations";
    no_invitations: "没有待接受的邀请。", "No pending invitations.";
    col_expires: "过期时间", "Expires";
    col_invited_by: "邀请人", "Invited by";
    invitation_revoked: "邀请已撤销。", "Invitation revoked.";
    revoke_invitation_confirm: "确定撤销此邀请？链接将立即失效。", "Revoke this invitation? Its link stops working at once.";
    invite_title: "接受邀请", "Accept invitation";
    invite_intro: "你受邀加入工作空间「{}」", "You are invited to join the workspace “{}”";
    invite_as: "受邀邮箱与角色", "Invited e-mail and role";
    invite_accept: "接受邀请", "Accept invitation";
    invite_signed_in: "你已以受邀邮箱登录，点击即可加入。", "You are signed in as the invited e-mail: one click joins.";
    invite_login: "该邮箱已有账户：输入该账户自己的密码以接受邀请。", "This e-mail has an account: enter its own password to accept.";
    invite_create: "该邮箱还没有账户：设置你自己的密码以创建账户并加入。", "This e-mail has no account yet: choose your own password to create it and join.";
    invite_password_again: "再次输入密码", "Password again";
    invite_mismatch: "两次输入的密码不一致。", "The two passwords differ.";
    invite_invalid: "邀请链接无效：可能已过期、已被使用或已被撤销。", "This invitation link is not valid: it may have expired, been used or been revoked.";
    invite_other_account: "你当前登录的是其他账户；请用受邀邮箱的密码接受，或先退出。", "You are signed in as another account; accept with the invited e-mail's own password, or log out first.";
    login_throttled: "此网络地址登录失败次数过多，请于 {} 后再试。", "Too many failed logins from this network address; try again after {}.";
    role_changed: "角色已更新。", "Role changed.";
    permission_matrix: "权限矩阵", "Permission matrix";
    role_owner: "所有者", "Owner";
    role_operator: "运营", "Operator";
    role_analyst: "分析师", "Analyst";
    role_cs_agent: "客服", "Customer service";
    role_auditor: "审计", "Auditor";
    perm_customers_read: "查看客户档案", "Read customer profiles";
    perm_customers_write: "创建和修改客户", "Create and change customers";
    perm_customers_delete: "删除客户（被遗忘权）", "Delete customers (erasure)";
    perm_pii_read: "查看未脱敏个人信息", "See personal data unmasked";
    perm_notes_write: "撰写备注", "Write notes";
    perm_consent_write: "记录授权变更", "Record consent changes";
    perm_tags_manage: "管理标签", "Manage tags";
    perm_customers_import: "批量导入客户", "Import customers";
    perm_keys_manage: "管理 API 密钥", "Manage API keys";
    perm_users_manage: "管理成员与角色", "Manage users and roles";
    perm_workspace_manage: "管理工作空间", "Manage the workspace";
    perm_audit_read: "查看审计日志", "Read the audit log";
    perm_events_write: "发送和导入行为事件", "Send and import events";
    perm_analytics_read: "查看分析（概览、漏斗、留存、RFM、事件、路径）", "Run analytics (overview, funnels, retention, RFM, events, paths)";
    perm_segments_manage: "创建和修改分群及模型阈值", "Create and change segments and model thresholds";
    perm_messages_send: "向客户发送消息、查看已配置的渠道", "Send messages to customers and see the configured channels";
    perm_messages_read: "查看消息记录", "Read the message log";
    perm_journeys_manage: "创建、发布、暂停和归档旅程，并将客户加入旅程", "Create, publish, pause and archive journeys, and enter customers on them";
    perm_campaigns_manage: "创建和运行活动（秒杀等），结算订单，签发客户令牌", "Create and run campaigns and their activities (flash sales), settle their orders, and issue customer tokens";
    family_demographic: "人口属性", "Demographic";
    family_consumption_preference: "消费偏好", "Consumption preference";
    family_content_interest: "内容兴趣", "Content interest";
    family_behaviour: "行为特征", "Behaviour";
    family_social: "社交属性", "Social";
    identity_user_id: "用户 ID", "User ID";
    identity_anonymous_id: "匿名 ID", "Anonymous ID";
    identity_phone: "手机号", "Phone";
    identity_email: "邮箱", "E-mail";
    identity_wecom_external_userid: "企业微信外部联系人", "WeCom external contact";
    identity_wechat_unionid: "微信 UnionID", "WeChat UnionID";
    identity_wechat_openid: "微信 OpenID", "WeChat OpenID";
    identity_member_no: "会员号", "Membership number";
    purpose_marketing: "营销", "Marketing";
    purpose_analytics: "行为分析", "Analytics";
    purpose_profiling: "画像与模型", "Profiling";
    purpose_third_party_sharing: "向第三方提供", "Third-party sharing";
    channel_wecom: "企业微信", "WeCom";
    channel_sms: "短信", "SMS";
    channel_email: "邮件", "E-mail";
    channel_wechat_mp: "公众号", "WeChat official account";
    channel_phone: "电话", "Phone";
    tag_source_rule: "规则", "rule";
    tag_source_import: "导入", "import";
    tag_source_manual: "手动", "manual";
    tag_source_model: "模型", "model";
}

impl Text {
    /// Fills the `{}` placeholder of a string.
    pub(crate) fn fill(template: &str, value: impl std::fmt::Display) -> String {
        template.replacen("{}", &value.to_string(), 1)
    }

    /// Fills the two `{}` placeholders of a string in order (a `{}` inside `first` stays as it is).
    pub(crate) fn fill2(template: &str, first: impl std::fmt::Display, second: impl std::fmt::Display) -> String {
        match template.split_once("{}") {
            Some((head, rest)) => format!("{head}{first}{}", Self::fill(rest, second)),
            None => template.into(),
        }
    }

    /// Returns a role's label.
    pub(crate) fn role(&self, role: Role) -> &'static str {
        match role {
            Role::Owner => self.role_owner,
            Role::Operator => self.role_operator,
            Role::Analyst => self.role_analyst,
            Role::CsAgent => self.role_cs_agent,
            Role::Auditor => self.role_auditor,
        }
    }

    /// Returns what a permission allows, in words.
    pub(crate) fn permission(&self, permission: Permission) -> &'static str {
        match permission {
            Permission::CustomersRead => self.perm_customers_read,
            Permission::CustomersWrite => self.perm_customers_write,
            Permission::CustomersDelete => self.perm_customers_delete,
            Permission::PiiRead => self.perm_pii_read,
            Permission::NotesWrite => self.perm_notes_write,
            Permission::ConsentWrite => self.perm_consent_write,
            Permission::TagsManage => self.perm_tags_manage,
            Permission::CustomersImport => self.perm_customers_import,
            Permission::KeysManage => self.perm_keys_manage,
            Permission::UsersManage => self.perm_users_manage,
            Permission::WorkspaceManage => self.perm_workspace_manage,
            Permission::AuditRead => self.perm_audit_read,
            Permission::EventsWrite => self.perm_events_write,
            Permission::AnalyticsRead => self.perm_analytics_read,
            Permission::SegmentsManage => self.perm_segments_manage,
            Permission::MessagesSend => self.perm_messages_send,
            Permission::MessagesRead => self.perm_messages_read,
            Permission::JourneysManage => self.perm_journeys_manage,
            Permission::CampaignsManage => self.perm_campaigns_manage,
        }
    }

    /// Returns a tag family's label.
    pub(crate) fn family(&self, family: TagFamily) -> &'static str {
        match family {
            TagFamily::Demographic => self.family_demographic,
            TagFamily::ConsumptionPreference => self.family_consumption_preference,
            TagFamily::ContentInterest => self.family_content_interest,
            TagFamily::Behaviour => self.family_behaviour,
            TagFamily::Social => self.family_social,
        }
    }

    /// Returns an identity kind's label.
    pub(crate) fn identity_kind(&self, kind: IdentityKind) -> &'static str {
        match kind {
            IdentityKind::UserId => self.identity_user_id,
            IdentityKind::AnonymousId => self.identity_anonymous_id,
            IdentityKind::Phone => self.identity_phone,
            IdentityKind::Email => self.identity_email,
            IdentityKind::WecomExternalUserid => self.identity_wecom_external_userid,
            IdentityKind::WechatUnionid => self.identity_wechat_unionid,
            IdentityKind::WechatOpenid => self.identity_wechat_openid,
            IdentityKind::MemberNo => self.identity_member_no,
        }
    }

    /// Returns a consent purpose's label.
    pub(crate) fn purpose(&self, purpose: Purpose) -> &'static str {
        match purpose {
            Purpose::Marketing => self.purpose_marketing,
            Purpose::Analytics => self.purpose_analytics,
            Purpose::Profiling => self.purpose_profiling,
            Purpose::ThirdPartySharing => self.purpose_third_party_sharing,
        }
    }

    /// Returns a consent channel's label.
    pub(crate) fn channel(&self, channel: Channel) -> &'static str {
        match channel {
            Channel::Wecom => self.channel_wecom,
            Channel::Sms => self.channel_sms,
            Channel::Email => self.channel_email,
            Channel::WechatMp => self.channel_wechat_mp,
            Channel::Phone => self.channel_phone,
        }
    }

    /// Returns a tag assignment source's label (unknown sources as given).
    pub(crate) fn tag_source<'a>(&self, source: &'a str) -> &'a str {
        match source {
            "rule" => self.tag_source_rule,
            "import" => self.tag_source_import,
            "manual" => self.tag_source_manual,
            "model" => self.tag_source_model,
            other => other,
        }
    }

    /// Returns the label of a form field named in a domain error (unknown fields as given).
    pub(crate) fn field<'a>(&self, field: &'a str) -> &'a str {
        match field {
            "email" => self.email,
            "password" | "new_password" => self.password,
            "name" => self.name,
            "role" => self.col_role,
            "kind" => self.col_kind,
            "body" => self.note_label,
            "family" => self.col_family,
            "group" => self.col_group,
            "trait" => self.filter_trait,
            "tag" => self.col_tags,
            "identity" | "q" => self.search_label,
            "steps" => self.col_step,
            "window" => self.funnel_window,
            "period" => self.retention_period,
            "cohort_event" => self.cohort_event,
            "return_event" => self.return_event,
            "events" => self.col_event,
            "from" => self.date_from,
            "as_of" | "day" => self.home_day_pick,
            "to" => self.date_to,
            "event" => self.paths_event,
            "direction" => self.paths_direction,
            "depth" => self.paths_depth,
            "filters" => self.filters_label,
            "breakdown" => self.breakdown_label,
            "attribution" => self.attribution_label,
            "measure" => self.measure_label,
            "text" | "definition" => self.segment_definition,
            "new_days" => self.set_new_days,
            "dormant_days" => self.set_dormant_days,
            "churned_days" => self.set_churned_days,
            "churn_days" => self.set_churn_days,
            "mature_orders" => self.set_mature_orders,
            "vip_min_orders" => self.set_vip_min_orders,
            "vip_min_aov" => self.set_vip_min_aov,
            "rfm_high_score" => self.set_rfm_high_score,
            "potential_days" => self.set_potential_days,
            "potential_min_events" => self.set_potential_min_events,
            "health_recency_days" => self.set_health_recency_days,
            "health_trend_days" => self.set_health_trend_days,
            "ltv_horizon_days" => self.set_ltv_horizon_days,
            "refresh_minutes" => self.set_refresh_minutes,
            "rfm_edges" | "rfm_edges.recency_days" => self.set_edges_recency,
            "rfm_edges.frequency" => self.set_edges_frequency,
            "rfm_edges.monetary" => self.set_edges_monetary,
            "passive_events" => self.set_passive_events,
            "message_received_events" => self.set_message_received_events,
            "message_engaged_events" => self.set_message_engaged_events,
            "key" => self.segment_key,
            "quiet_hours" | "quiet_hours.start" => self.rules_quiet_start,
            "quiet_hours.end" => self.rules_quiet_end,
            "frequency_cap" | "frequency_cap.max" => self.rules_cap_max,
            "frequency_cap.days" => self.rules_cap_days,
            "staff_channel" => self.rules_staff,
            // A path into a definition or a list (`definition.and[0].tag`, `steps[1]`) reads as its root.
            other => match other.split(['.', '[']).next() {
                Some(root) if root != other && !root.is_empty() => self.field(root),
                _ => other,
            },
        }
    }
}

/// The Chinese wording of the domain's error reasons and warnings: (English, Chinese), where `{}`
/// stands for any text (a quoted value, a name, a number), carried over as it is. More specific
/// templates come first.
const REASONS_ZH: &[(&str, &str)] = &[
    ("no node {}", "没有节点 {}"),
    ("no saved template {}", "没有已存模板 {}"),
    ("a template named {} exists: change it from the list", "已有标识为 {} 的模板，请在列表中修改"),
    ("must be marketing or transactional", "须为营销或通知"),
    (
        "a message that uses a saved template has no text of its own (subject, body, html, template, params, en)",
        "使用已存模板的消息不能再有自己的内容（主题、正文、HTML、服务商模板、参数、英文）",
    ),
    ("the saved template is marketing", "已存模板是营销类"),
    ("the saved template is transactional", "已存模板是通知类"),
    ("the workspace has {} templates, the most it keeps", "本工作区已有 {} 个模板，已达上限"),
    ("journey {} is archived", "旅程 {} 已归档"),
    ("must be 16 to 128 letters, digits, - or _", "须为 16 到 128 个字母、数字、- 或 _"),
    ("a channel named {} exists: change it from the list", "已有名为 {} 的渠道，请在列表中修改"),
    ("is not a JSON object: {}", "不是 JSON 对象：“{}”"),
    ("must be a string", "须为文本"),
    ("is not a URL: {}", "不是网址：“{}”"),
    ("must be 1 to 60000", "须在 1 到 60000 之间"),
    ("must be 1 to 65535", "须在 1 到 65535 之间"),
    ("unknown kind {}; expected one of {}", "未知的渠道类型 {}，可选“{}”"),
    ("is a secret: give it under secrets", "这是密钥，请填在密钥栏"),
    ("is not a secret of a {} channel (its secrets: {})", "不是“{}”渠道的密钥（其密钥为“{}”）"),
    ("is not a setting of a {} channel (its settings: {})", "不是“{}”渠道的设置（其设置为“{}”）"),
    ("must be a whole number from 1 to 1000000", "须为 1 到 1000000 的整数"),
    ("must be true or false", "须为 true 或 false"),
    ("must be 1 to 64 of a-z, 0-9, - and _", "须为 1 到 64 个小写字母、数字、- 或 _"),
    ("must be one of {}", "须为“{}”之一"),
    ("is not a journey definition: {}", "不是有效的旅程定义：“{}”"),
    ("{} is not a customer number", "{} 不是客户编号"),
    ("is not a JSON object of texts: {}", "不是值为文本的 JSON 对象：“{}”"),
    ("{} is not one of paused, active, archived", "{} 不是可用的状态"),
    ("must hold 1 to {} nodes", "须有 1 到 {} 个节点"),
    ("a node id is 1 to 64 of a-z, A-Z, 0-9, _ and -", "节点标识须为 1 到 64 个字母、数字、_ 或 -"),
    ("{} is not a duration from 1m to {}d (30m, 2h, 3d, 1w)", "{} 不是 1m 到 {}d 之间的时长（如 30m、2h、3d、1w）"),
    ("{} is not HH:MM", "{} 不是 HH:MM 格式的时刻"),
    ("must not be empty", "不能为空"),
    ("nests deeper than {} levels", "嵌套超过 {} 层"),
    ("no segment {}", "没有分群 {}"),
    ("no tag {}", "没有标签 {}"),
    ("{} is not a consent channel", "{} 不是可授权同意的渠道"),
    ("{} is not one of eq, ne, gt, gte, lt, lte, exists", "{} 不是可用的比较方式"),
    ("must be a trait's key (1 to 64 characters)", "须为属性名（1 到 64 个字符）"),
    ("a broadcast needs either at or cron", "定时群发须设置一次性时间或周期"),
    ("must be 1 to 3650", "须在 1 到 3650 之间"),
    ("must hold 1 to {} arms", "须有 1 到 {} 个分组"),
    ("the shares add up to {}, not 100", "各组比例之和为 {}，不是 100"),
    ("must be a distinct name", "名称不能重复"),
    ("must be 1 to 64 letters, digits, dots, dashes or underscores", "须为 1 到 64 个字母、数字、点、短横线或下划线"),
    ("must be 1 to {} characters", "须为 1 到 {} 个字符"),
    ("is larger than {} bytes of JSON", "超过 {} 字节的 JSON"),
    ("is not reachable from the start", "从起始节点无法到达"),
    ("is on a cycle without a wait (it would run forever)", "处于没有等待的循环中（会无限运行）"),
    ("this siyu does not build {} channels", "本 siyu 不支持“{}”渠道"),
    ("a {} channel notifies staff, not customers", "“{}”渠道用于通知员工，不能发给客户"),
    (
        "channel {} has no consent_channel setting, so it cannot check marketing consent",
        "渠道 {} 没有设置对应的同意渠道，无法检查营销同意",
    ),
    ("channel {} is not a webhook", "渠道 {} 不是网络钩子"),
    ("unknown variable {}; templates may use {}", "未知变量 {}；模板可用的变量为“{}”"),
    ("no customer of this workspace has the trait {}", "本工作区没有客户具有属性 {}"),
    ("is longer than {} bytes", "超过 {} 字节"),
    ("{} is not a time of day as HH:MM (00:00 to 23:59)", "{} 不是 HH:MM 格式的时刻（00:00 至 23:59）"),
    ("must be between {} and {}", "须在 {} 到 {} 之间"),
    ("no channel {} is configured", "没有配置渠道 {}"),
    (
        "the channel messages customers; staff are told through a group robot (dingtalk, feishu) or a WeCom application (wecom_app)",
        "该渠道面向客户；员工通知请用群机器人（钉钉、飞书）或企业微信应用",
    ),
    ("must be 1 to {} bytes", "须为 1 至 {} 字节"),
    ("the channel is in dry-run mode: nothing is sent", "渠道处于演练模式：不实际发送"),
    ("the customer withdrew marketing consent on {}", "客户已撤回{}营销同意"),
    ("the customer has not given marketing consent on {}", "客户未授予{}营销同意"),
    (
        "{} marketing messages on {} in the last {} days (at most {})",
        "已有 {} 条营销消息经{}发出（近 {} 天，上限 {} 条）",
    ),
    ("quiet hours: deferred to {}", "免打扰时段：推迟到 {}"),
    ("dry run: recorded, not sent", "演练：已记录，未发送"),
    ("the customer was erased", "客户已被删除"),
    ("unknown events (nobody matches them yet): {}", "未知事件（暂时没有客户符合）：{}"),
    ("unknown tags (nobody matches them yet): {}", "未知标签（暂时没有客户符合）：{}"),
    ("unknown traits (nobody matches them yet): {}", "未知属性（暂时没有客户符合）：{}"),
    ("unknown event properties (nobody matches them yet): {}", "未知事件属性（暂时没有客户符合）：{}"),
    ("unknown tag {}; create it first", "未知标签 {}，请先创建"),
    ("unknown event {}", "未知事件 {}"),
    ("unknown property {}", "未知属性 {}"),
    ("unknown segment {}", "未知分群 {}"),
    ("unknown purpose {}", "未知授权目的 {}"),
    ("unknown channel {}", "未知渠道 {}"),
    ("unknown identity type {}", "未知身份类型 {}"),
    ("unknown role {}", "未知角色 {}"),
    ("segments refer to each other in a cycle: {}", "分群之间循环引用：{}"),
    ("segment {} refers to {}", "分群 {} 引用了 {}"),
    ("{} is personal data sealed at rest; segments cannot test it", "{} 是加密存储的个人信息，分群不能以它为条件"),
    ("{} is personal data and cannot be searched", "{} 是个人信息，不能用于搜索"),
    ("{} is not a duration like 30d, 12h or 2w", "{} 不是时长，应如 30d、12h 或 2w"),
    ("{} is not before {}", "{} 不早于 {}"),
    ("give within or between, not both", "within 与 between 只能给一个"),
    ("expects two dates like 2026-01-31 or RFC 3339 instants", "需要两个日期，如 2026-01-31 或 RFC 3339 时刻"),
    ("a count takes no property", "count 不带属性"),
    ("needs at least one condition", "至少需要一个条件"),
    ("is required", "必填"),
    ("must be one of = != > >= < <=", "须为 = != > >= < <= 之一"),
    ("must be within, before or after", "须为 within、before 或 after"),
    ("{} takes = != in or not in with one of: {}", "{} 只能用 = != in 或 not in，取值为：{}"),
    ("{} is not one of: {}", "{} 不在可选值中：{}"),
    ("{} takes no value", "{} 不带值"),
    ("{} must be 1-64 lower-case letters, digits, - or _", "{} 须为 1–64 个小写字母、数字、- 或 _"),
    ("must be at most {} characters", "最多 {} 个字符"),
    ("{} must look like key=value", "{} 应形如 属性=值"),
    ("{} must look like type:value", "{} 应形如 类型:值"),
    ("{}: expected a number followed by w, d, h, m or s", "{}：应为数字加单位 w、d、h、m 或 s"),
    ("{}: expected day, week or month", "{}：应为 day、week 或 month"),
    ("{}: expected next or previous", "{}：应为 next 或 previous"),
    ("{}: expected a whole number from 1 to 10", "{}：应为 1 到 10 的整数"),
    ("{} is not an ISO date (YYYY-MM-DD)", "{} 不是日期（YYYY-MM-DD）"),
    (
        "{} buckets are too many; use a coarser period or a shorter range",
        "{} 个分桶过多，请用更粗的周期或更短的时间范围",
    ),
    ("a funnel needs at least 2 steps", "漏斗至少需要 2 个步骤"),
    ("filters given for a step the funnel does not have", "筛选条件指向了漏斗中不存在的步骤"),
    ("the window must be positive", "转化窗口必须大于 0"),
    ("must not be before from", "不能早于开始日期"),
    ("{} is not a number", "{} 不是数字"),
    ("{} is not a whole number", "{} 不是整数"),
    ("{} is not an amount", "{} 不是金额"),
    ("{} is not a score", "{} 不是评分"),
    ("{} is not a boolean (true/false)", "{} 不是布尔值（true/false）"),
    ("{} is not a date like 2024-05-01", "{} 不是日期，应如 2024-05-01"),
    ("{} is before 2000-01-01, the earliest day analytics reads", "{} 早于 2000-01-01，分析最早只读到这一天"),
    (
        "{}: expected first, last or a step number from 1 (e.g. step 2)",
        "{}：应为 first（第 1 步）、last（到达的最后一步）或从 1 开始的步骤号（如 step 2）",
    ),
    ("step {} is past the funnel's last ({})", "第 {} 步超出了漏斗的最后一步（共 {} 步）"),
    ("{} is after {}, the day 24 hours from now", "{} 晚于 {}，即 24 小时之后的那一天"),
    ("{} is not an e-mail address", "{} 不是邮箱地址"),
    ("{} is not a phone number", "{} 不是电话号码"),
    (
        "{} is not a mainland mobile number (11 digits starting with 1) or an international number starting with +",
        "{} 不是中国大陆手机号（以 1 开头的 11 位数字），也不是以 + 开头的国际号码",
    ),
    ("{} is not a valid mainland mobile number", "{} 不是有效的中国大陆手机号"),
    ("{} is not a valid E.164 number", "{} 不是有效的 E.164 号码"),
    ("note must be 1-4000 characters", "备注须为 1–4000 个字符"),
    // Last: a template's syntax error, as the template engine words it (quoted, as it is).
    ("line {}: {}", "第 {} 行模板语法有误：“{}”"),
];

/// What a segment parse error says was expected, in Chinese.
const EXPECTED_ZH: &[(&str, &str)] = &[
    ("a condition, an operator or a value", "条件、运算符或值"),
    ("a closing \"", "右引号 \""),
    ("an escape \\\" \\\\ or \\n", "转义 \\\" \\\\ 或 \\n"),
    ("a number, a duration like 30d or a date like 2026-01-31", "数字、时长（如 30d）或日期（如 2026-01-31）"),
    ("a number", "数字"),
    (
        "a condition: tag(…), did(…), trait.NAME …, a model field, not or (",
        "条件：tag(…)、did(…)、trait.属性名 …、模型字段、not 或 (",
    ),
    ("a quoted name", "带引号的名称"),
    ("a quoted purpose, e.g. \"marketing\"", "带引号的授权目的，如 \"marketing\""),
    ("a quoted channel, e.g. \"sms\"", "带引号的渠道，如 \"sms\""),
    ("a trait name (quote it if it has spaces)", "属性名（含空格时加引号）"),
    ("class, r, f or m", "class、r、f 或 m"),
    (
        "a condition: tag, segment, consent, has_identity, did, trait., rfm., lifecycle, tier, health, ltv, churn_risk, recall or not",
        "条件：tag、segment、consent、has_identity、did、trait.、rfm.、lifecycle、tier、health、ltv、churn_risk、recall 或 not",
    ),
    ("a value: a quoted string, a number, true or false", "值：带引号的字符串、数字、true 或 false"),
    ("a duration like 30d or a date like 2026-01-31", "时长（如 30d）或日期（如 2026-01-31）"),
    ("a quoted text", "带引号的文本"),
    ("in, contains or exists after not", "not 之后的 in、contains 或 exists"),
    (
        "a comparison: = != > >= < <= in, not in, contains, exists, within, before or after",
        "比较：= != > >= < <= in、not in、contains、exists、within、before 或 after",
    ),
    ("a quoted event name", "带引号的事件名"),
    (
        "count, sum(…), avg(…), within, between, where, first or last",
        "count、sum(…)、avg(…)、within、between、where、first 或 last",
    ),
    ("a comparison = != > >= < <=", "比较 = != > >= < <="),
    ("a property name", "属性名"),
    ("a property comparison", "属性比较"),
    ("within, before or after", "within、before 或 after"),
    ("and, or, or the end of the definition", "and、or 或定义结尾"),
];

/// Returns the texts `{}` stands for when `text` fits `template`, else `None`.
fn fit<'a>(template: &str, text: &'a str) -> Option<Vec<&'a str>> {
    let mut parts = template.split("{}");
    let mut rest = text.strip_prefix(parts.next().unwrap_or_default())?;
    let literals: Vec<&str> = parts.collect();
    let mut captures = Vec::with_capacity(literals.len());
    for (i, literal) in literals.iter().enumerate() {
        if i + 1 == literals.len() {
            captures.push(rest.strip_suffix(literal)?);
            rest = "";
        } else {
            let at = rest.find(literal)?;
            captures.push(&rest[..at]);
            rest = &rest[at + literal.len()..];
        }
    }
    (rest.is_empty() && captures.iter().all(|c| !c.is_empty())).then_some(captures)
}

/// Fills the `{}` of a template with `values` in order.
fn fill_all(template: &str, values: &[&str]) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    for (i, part) in template.split("{}").enumerate() {
        if i > 0 {
            out.push_str(values.get(i - 1).copied().unwrap_or_default());
        }
        out.push_str(part);
    }
    out
}

/// Returns a domain reason in Chinese (as it is when no template fits).
fn reason_zh(reason: &str) -> String {
    if let Some([line, column, expected, found]) = fit("line {}, column {}: expected {}, found {}", reason).as_deref() {
        let expected = EXPECTED_ZH.iter().find(|(en, _)| en == expected).map_or(*expected, |(_, zh)| *zh);
        let found = if *found == "the end of the text" {
            "文本结尾".to_string()
        } else if let Some(s) = found.strip_prefix("the string ") {
            format!("字符串 {s}")
        } else if let Some(n) = found.strip_prefix("the number ") {
            format!("数字 {n}")
        } else {
            found.to_string()
        };
        return format!("第 {line} 行第 {column} 列：应为{expected}，实际为{found}");
    }
    for (en, zh) in REASONS_ZH {
        if let Some(values) = fit(en, reason) {
            // A channel a reason names (`sms`, `wecom`) in words.
            let values: Vec<&str> = values.iter().map(|v| Channel::parse(v).map_or(*v, |c| ZH.channel(c))).collect();
            return fill_all(zh, &values);
        }
    }
    reason.to_string()
}

/// Well-known trait keys (Segment's reserved traits and the demo brand's): key, 中文, English.
const TRAIT_LABELS: &[(&str, &str, &str)] = &[
    ("name", "姓名", "Name"),
    ("birthday", "生日", "Birthday"),
    ("address", "地址", "Address"),
    ("city", "城市", "City"),
    ("gender", "性别", "Gender"),
    ("age", "年龄", "Age"),
    ("member_level", "会员等级", "Membership level"),
    ("favorite_drink", "最爱饮品", "Favourite drink"),
    ("orders", "订单数", "Orders"),
    ("total_spent", "累计消费", "Total spent"),
    ("acquisition_channel", "获客渠道", "Acquisition channel"),
    ("first_seen_days_ago", "首次出现（天前）", "First seen (days ago)"),
    ("company", "公司", "Company"),
    ("title", "职位", "Job title"),
];

/// Well-known sources of identities, traits and consent records: source, 中文, English.
const SOURCES: &[(&str, &str, &str)] = &[
    ("api", "API", "API"),
    ("import", "导入", "Import"),
    ("console", "控制台", "Console"),
    ("demo", "演示数据", "Demo data"),
    ("signup_form", "注册表单", "Sign-up form"),
    ("unsubscribe_link", "退订链接", "Unsubscribe link"),
    ("tracking", "事件上报", "Tracking API"),
    ("cli", "命令行", "Command line"),
];

/// Well-known trait values: key, value, 中文, English.
const TRAIT_VALUES: &[(&str, &str, &str, &str)] =
    &[("gender", "female", "女", "Female"), ("gender", "male", "男", "Male"), ("gender", "other", "其他", "Other")];

impl Text {
    /// Returns a domain error reason or warning in this language (the domain words them in English).
    pub(crate) fn reason(&self, reason: &str) -> String {
        if self.lang_code == "zh" { reason_zh(reason) } else { reason.to_string() }
    }

    /// Returns a record's source in words (a source siyu does not know as it is).
    pub(crate) fn source<'a>(&self, source: &'a str) -> &'a str {
        let zh = self.lang_code == "zh";
        SOURCES.iter().find(|(s, _, _)| *s == source).map_or(source, |(_, z, e)| if zh { z } else { e })
    }

    /// Returns the label of a well-known trait key, `None` for the workspace's own keys.
    pub(crate) fn trait_label(&self, key: &str) -> Option<&'static str> {
        let zh = self.lang_code == "zh";
        TRAIT_LABELS.iter().find(|(k, _, _)| *k == key).map(|(_, z, e)| if zh { *z } else { *e })
    }

    /// Returns a trait value as shown: well-known values and booleans in words, others as they are.
    pub(crate) fn trait_value(&self, key: &str, value: &serde_json::Value) -> String {
        let zh = self.lang_code == "zh";
        match value {
            serde_json::Value::String(text) => TRAIT_VALUES
                .iter()
                .find(|(k, v, _, _)| *k == key && v == text)
                .map_or_else(|| text.clone(), |(_, _, z, e)| if zh { (*z).into() } else { (*e).into() }),
            serde_json::Value::Bool(b) => match (zh, b) {
                (true, true) => "是".into(),
                (true, false) => "否".into(),
                (false, true) => "yes".into(),
                (false, false) => "no".into(),
            },
            other => other.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_prefers_the_highest_quality_tag() {
        assert_eq!(Lang::from_accept_language("zh-CN,zh;q=0.9,en;q=0.8"), Lang::Zh);
        assert_eq!(Lang::from_accept_language("en-US,en;q=0.9,zh-CN;q=0.8"), Lang::En);
        assert_eq!(Lang::from_accept_language("en;q=0.5, zh-TW"), Lang::Zh);
        assert_eq!(Lang::from_accept_language(""), Lang::En);
        assert_eq!(Lang::from_accept_language("fr"), Lang::En);
    }

    #[test]
    fn chinese_reasons_keep_the_quoted_values() {
        let zh = Lang::Zh.text();
        assert_eq!(zh.reason("unknown event \"Sign Up\""), "未知事件 \"Sign Up\"");
        assert_eq!(
            zh.reason("line 2, column 15: expected a value: a quoted string, a number, true or false, found \"=\""),
            "第 2 行第 15 列：应为值：带引号的字符串、数字、true 或 false，实际为\"=\""
        );
        assert_eq!(
            zh.reason("unknown tags (nobody matches them yet): \"VIP\""),
            "未知标签（暂时没有客户符合）：\"VIP\""
        );
        assert_eq!(zh.reason("is required"), "必填");
        assert_eq!(zh.reason("something new"), "something new");
        assert_eq!(Lang::En.text().reason("unknown event \"x\""), "unknown event \"x\"");
    }

    #[test]
    fn every_reason_template_keeps_its_placeholders() {
        for (en, zh) in REASONS_ZH {
            assert_eq!(en.matches("{}").count(), zh.matches("{}").count(), "{en}");
        }
    }

    #[test]
    fn fill_replaces_the_placeholder() {
        assert_eq!(Text::fill(EN.customers_total, 3), "3 customers in total");
        assert_eq!(Text::fill(ZH.customers_total, 3), "共 3 位客户");
        assert_eq!(Text::fill2(EN.paths_customers, "A {}", 7), "Customers who did “A {}”: 7");
    }
}
