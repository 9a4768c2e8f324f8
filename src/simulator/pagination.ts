/**
 * DigitalOcean-style paging: `page` (from 1) and `per_page` (default 20, at most 200) in the
 * query; `links.pages` holds absolute URLs for only the pages that apply (`first`/`prev` past
 * page 1, `next`/`last` before the last page), and `links` is `{}` when everything fits.
 *
 * A `page` or `per_page` that is not a positive integer is a 400 bad_request; a `per_page`
 * above 200 is served as 200 (the spec's maximum) rather than refused.
 */

export const DEFAULT_PER_PAGE = 20;
export const MAX_PER_PAGE = 200;

export type ListOrder = 'oldest-first' | 'newest-first';

export interface PageRequest {
  page: number;
  perPage: number;
}

export interface PageLinks {
  pages?: { first?: string; prev?: string; next?: string; last?: string };
}

const POSITIVE_INTEGER = /^[1-9]\d*$/;

export function parsePageRequest(search: URLSearchParams): PageRequest | { error: string } {
  const page = search.get('page');
  const perPage = search.get('per_page');
  if (page !== null && !POSITIVE_INTEGER.test(page)) return { error: 'page must be a positive integer' };
  if (perPage !== null && !POSITIVE_INTEGER.test(perPage)) {
    return { error: 'per_page must be a positive integer' };
  }
  return {
    page: page === null ? 1 : Number(page),
    perPage: perPage === null ? DEFAULT_PER_PAGE : Math.min(MAX_PER_PAGE, Number(perPage)),
  };
}

/** The items of one page, from an array kept oldest first. */
export function pageOf<T>(items: readonly T[], request: PageRequest, order: ListOrder): T[] {
  const skip = (request.page - 1) * request.perPage;
  if (skip >= items.length) return [];
  if (order === 'oldest-first') return items.slice(skip, skip + request.perPage);
  const end = items.length - skip;
  return items.slice(Math.max(0, end - request.perPage), end).reverse();
}

/**
 * `baseUrl` is scheme + host + path of the request; the other query parameters are kept so the
 * links reproduce the same listing, with `page` first as DigitalOcean writes it.
 */
export function pageLinks(
  baseUrl: string,
  search: URLSearchParams,
  request: PageRequest,
  total: number,
): PageLinks {
  const lastPage = Math.max(1, Math.ceil(total / request.perPage));
  const rest = new URLSearchParams(search);
  rest.delete('page');
  const tail = rest.toString();
  const link = (page: number) => `${baseUrl}?page=${page}${tail === '' ? '' : `&${tail}`}`;
  const pages: NonNullable<PageLinks['pages']> = {};
  if (request.page > 1) {
    pages.first = link(1);
    pages.prev = link(Math.min(request.page - 1, lastPage));
  }
  if (request.page < lastPage) {
    pages.next = link(request.page + 1);
    pages.last = link(lastPage);
  }
  return Object.keys(pages).length === 0 ? {} : { pages };
}
