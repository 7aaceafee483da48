// The GraphQL operations the app sends. `npm run codegen` reads them and writes their
// result and variable types to src/gql/, so every call below is checked against the schema.
import { graphql } from "./gql";

export const CreateSeller = graphql(`
  mutation CreateSeller($email: String!) {
    createAccount(input: { type: EXPRESS, country: "US", businessType: INDIVIDUAL, email: $email }) {
      id
    }
  }
`);

export const CreateOnboardingLink = graphql(`
  mutation CreateOnboardingLink($account: ID!, $refreshUrl: String!, $returnUrl: String!) {
    createAccountLink(input: { account: $account, refreshUrl: $refreshUrl, returnUrl: $returnUrl }) {
      url
      expiresAt
    }
  }
`);

export const PreviewCheckout = graphql(`
  query PreviewCheckout($input: CreateChargeInput!) {
    platform {
      policy {
        name
      }
    }
    previewCharge(input: $input) {
      applicationFee {
        amount
        decimal
      }
    }
  }
`);

export const Checkout = graphql(`
  mutation Checkout($input: CreateChargeInput!) {
    createCharge(input: $input) {
      id
      status
      amount {
        amount
        currency
        decimal
      }
      applicationFee {
        amount {
          amount
          decimal
        }
      }
      pricing {
        policy
      }
    }
  }
`);

export const SellerView = graphql(`
  query SellerView($account: ID!) {
    account(id: $account) {
      id
      email
      chargesEnabled
      payoutsEnabled
      requirements {
        currentlyDue
      }
      payoutSchedule {
        interval
        weeklyAnchor
        delayDays
      }
      balance {
        available {
          amount
          currency
          decimal
        }
        pending {
          amount
          currency
          decimal
        }
      }
      payouts(first: 10) {
        nodes {
          id
          status
          automatic
          arrivalDate
          amount {
            currency
            decimal
          }
        }
      }
    }
  }
`);

export const AdvanceClock = graphql(`
  mutation AdvanceClock($seconds: Int!) {
    advanceClock(input: { seconds: $seconds })
  }
`);

/** The seller's events, streamed over /graphql/ws (acting as the seller: Connect-Account). */
export const SellerEvents = graphql(`
  subscription SellerEvents {
    events {
      id
      type
      created
    }
  }
`);
