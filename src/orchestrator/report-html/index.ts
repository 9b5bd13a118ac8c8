export { clientScript } from './client';
export { BAND_BUDGET, SINGLE_MESSAGE_BUDGET, laneMessages, type LaneMessages, type MessageBand } from './messages';
export {
  MASTER_LANE,
  MAX_PAGE_FAILURES,
  buildHtmlModel,
  faultWindows,
  type DisconnectMark,
  type FailureMark,
  type FaultWindow,
  type HtmlModel,
} from './model';
export { PAGE_CSP, renderHtml } from './page';
export { htmlReport } from './write';
